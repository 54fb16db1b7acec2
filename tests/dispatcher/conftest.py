"""Dispatcher running in-process: over the test's own vhost and databases (broker tests),
or with its routes called directly over the in-memory store (unit tests, ``local``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

from meterctl.__main__ import main as meterctl_main
from services.dispatcher.domain.teams import Team
from services.dispatcher.handlers import DispatcherHandlers
from services.dispatcher.main import create_app
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from services.dispatcher.store import DispatcherStore
from services.dispatcher.usecases import Dispatcher
from shared.delivery import Delivery, Outcome
from shared.mongo import make_client
from shared.routes import Routes
from shared.senders import Senders
from shared.settings import CommonSettings
from tests.dispatcher.fakes import MemoryDispatcherStore, PublishedEvents
from tests.support.amqp import EventLog, Portal
from tests.support.inprocess import LocalPortal


class MovableClock:
    """A clock the tests move: 10:00 in Baku on 26 November 2026 until told otherwise."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def next_day(self) -> None:
        self.now += timedelta(days=1)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def database_prefix() -> str:
    """This test's own databases (the dispatcher's and meterctl's are the same one)."""
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture
def operator_env(mongo_url: str, database_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """meterctl's environment: the dispatcher's database of this test (no broker needed)."""
    monkeypatch.setenv("MONGO_URL", mongo_url)
    monkeypatch.setenv("DATABASE_PREFIX", database_prefix)


async def meterctl(*argv: str) -> int:
    """``meterctl ARGV``; it runs its own event loop, as from a shell, so in a thread."""
    return await asyncio.to_thread(meterctl_main, list(argv))


@pytest.fixture
def dispatcher_settings(
    settings_values: dict[str, Any], database_prefix: str
) -> DispatcherSettings:
    values = {**settings_values, "database_prefix": database_prefix}
    return DispatcherSettings(**values, housekeeping_interval=0.2)


@pytest.fixture
async def dispatcher_db(mongo_url: str, database_prefix: str) -> AsyncIterator[Any]:
    """The dispatcher's database (MongoDB only: tests of the store need no broker)."""
    settings = CommonSettings(mongo_url=mongo_url, database_prefix=database_prefix)
    client = make_client(mongo_url, "tests")
    db = client[settings.database_name("dispatcher")]
    await MongoDispatcherStore(db).ensure_indexes()
    yield db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
def store(dispatcher_db: Any) -> MongoDispatcherStore:
    return MongoDispatcherStore(dispatcher_db)


@pytest.fixture
async def dispatcher(
    dispatcher_settings: DispatcherSettings, dispatcher_db: Any, run_app: Any, clock: MovableClock
) -> AsyncIterator[Any]:
    app = create_app(dispatcher_settings, configure_logging=False, clock=clock)
    async with run_app(app):
        yield app


@pytest.fixture
async def field_app(dispatcher: Any, rabbitmq_url: str) -> AsyncIterator[Portal]:
    async with Portal(rabbitmq_url) as client:
        yield client


@pytest.fixture
async def events(dispatcher: Any, rabbitmq_url: str) -> AsyncIterator[EventLog]:
    async with EventLog(rabbitmq_url, patterns=("application.*",)) as log:
        yield log


_numbers = iter(range(1, 1_000_000))


def registered(
    district: str = "BAK-NAS", reason: str = "new_installation", **overrides: Any
) -> dict[str, Any]:
    """An ``application.registered`` body as intake publishes it, with a fresh number."""
    body: dict[str, Any] = {
        "application_number": f"SQ-2026-{next(_numbers):06d}",
        "occurred_at": "2026-11-26T10:00:00.000+04:00",
        "sequence": 1,
        "subscriber_code": "1000001",
        "applicant_fin": "5ABCD12",
        "channel": "e-gov",
        "reason_code": reason,
        "language": "az",
        "district_code": district,
        "additional_meter": False,
        "contact": {"phone": "+994501234567", "email": "citizen@example.az"},
        "notes": "",
        "due_by": "2026-12-10",  # ten working days after 26 November 2026, as intake says
    }
    body.update(overrides)
    return body


def withdrawal(registration: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The applicant's ``dispatcher.withdraw_application`` of a registered application."""
    body = {
        "applicant_fin": registration["applicant_fin"],
        "application_number": registration["application_number"],
        "language": registration["language"],
    }
    body.update(overrides)
    return body


async def publish_registered(url: str, *bodies: dict[str, Any], message_id: str = "") -> None:
    """Publish ``application.registered`` events as intake does (persistent, typed)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange("meter.events")
        for body in bodies:
            await exchange.publish(
                aio_pika.Message(
                    json.dumps(body).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message_id or str(uuid.uuid4()),
                    type="application.registered",
                    app_id="intake",
                ),
                routing_key="application.registered",
            )


def act(**overrides: Any) -> dict[str, Any]:
    body = {
        "act_number": "AKT-2026-0001",
        "meter_serial": "WM-2026-000123",
        "meter_model": "Sensus 620",
        "initial_reading_m3": "0.000",
        "seal_numbers": ["PL-1001", "PL-1002"],
        "installed_at": "2026-11-26T12:30:00+04:00",
        "installer_name": "Rəşad Məmmədov",
    }
    body.update(overrides)
    return body


def report(
    assigned: dict[str, Any], outcome: str = "installed", **overrides: Any
) -> dict[str, Any]:
    """A field team's report on the work order of an ``application.assigned`` event."""
    body: dict[str, Any] = {
        "application_number": assigned["application_number"],
        "work_order_id": assigned["work_order_id"],
        "team_id": assigned["team_id"],
        "outcome": outcome,
        "comment": "",
    }
    if outcome == "not_executed":
        body["reason_code"] = "unsuitable_water_line"
    else:
        body["act"] = act()
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def team(team_id: str, districts: str, capacity: int = 5, name: str = "") -> Team:
    return Team(
        team_id=team_id,
        name=name or f"Briqada {team_id}",
        district_codes=tuple(districts.split(";")),
        daily_capacity=capacity,
    )


async def given(
    store: DispatcherStore,
    teams: list[Team] = (),  # type: ignore[assignment]
    stock: dict[str, int] | None = None,
) -> None:
    """Reference data as an operator loads it with meterctl."""
    await store.upsert_teams(list(teams))
    for district, quantity in (stock or {}).items():
        await store.receive(district, quantity, str(uuid.uuid4()), MovableClock()())


async def level(store: DispatcherStore, district: str) -> Any:
    for found in await store.stock_levels():
        if found.district_code == district:
            return found
    raise AssertionError(f"no stock document for {district}")


class LocalDispatcher:
    """The dispatcher's routes called in-process over the in-memory store: the same reading,
    rules, replies and events as over the broker, with no server (unit layer)."""

    def __init__(self, clock: MovableClock, senders: Senders | None = None) -> None:
        self.store = MemoryDispatcherStore()
        senders = senders or Senders()
        self.dispatcher = Dispatcher(self.store, clock, senders)
        self.routes = Routes(senders)
        DispatcherHandlers(self.dispatcher).serve(self.routes)
        self.field_app = LocalPortal(self.routes)
        self.events = PublishedEvents(self.store)

    async def publish_registered(self, *bodies: dict[str, Any], message_id: str = "") -> None:
        """``application.registered`` events, each delivered to the dispatcher's queue."""
        for body in bodies:
            await self.deliver_event("application.registered", body, message_id=message_id)

    async def deliver_event(
        self, routing_key: str, body: dict[str, Any], message_id: str = ""
    ) -> Outcome:
        delivery = Delivery(
            routing_key=routing_key,
            message_id=message_id or str(uuid.uuid4()),
            message_type=routing_key,
            app_id="intake",
        )
        payload = json.dumps(body).encode()
        return await self.routes.deliver("dispatcher.application_registered", payload, delivery)


@pytest.fixture
def local(clock: MovableClock) -> LocalDispatcher:
    return LocalDispatcher(clock)


class Commands:
    """The commands a client sent (one database round trip each) while ``counting``."""

    def __init__(self) -> None:
        self.count = 0
        self.on = False

    def __call__(self, name: str) -> None:
        self.count += self.on

    @contextmanager
    def counting(self) -> Iterator[None]:
        self.count, self.on = 0, True
        try:
            yield
        finally:
            self.on = False


@pytest.fixture
def commands() -> Commands:
    return Commands()


@pytest.fixture
async def counted_db(mongo_url: str, commands: Commands) -> AsyncIterator[Any]:
    """A fresh dispatcher database whose client counts its commands (``commands``)."""
    client = make_client(mongo_url, "tests", on_command=commands)
    db = client[f"t{uuid.uuid4().hex[:10]}_dispatcher"]
    await MongoDispatcherStore(db).ensure_indexes()
    yield db
    await client.drop_database(db.name)
    await client.close()
