"""The notifier running in-process against the test's own vhost, database, SMTP server
and SMS gateway; events published on ``meter.events`` as the other services would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from services.notifier.main import create_app
from services.notifier.mongo import MongoNotifierStore
from services.notifier.settings import NotifierSettings
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.notifier.fakes import MemoryNotifierStore
from tests.notifier.servers import Gateway, SmtpServer
from tests.support.amqp import EventLog, EventPublisher
from tests.support.infra import free_port
from tests.support.recording import RecordingMessenger

TOKEN = "test-gateway-token"
SENDER = "Su Təchizatı <bildiris@su.example.az>"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer(free_port())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    server = Gateway(free_port())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def notifier_settings(
    settings_values: dict[str, Any], smtp: SmtpServer, gateway: Gateway
) -> NotifierSettings:
    return NotifierSettings(
        **settings_values,
        retry_base_delay=0.05,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from=SENDER,
        smtp_timeout=5.0,
        sms_gateway_url=f"http://127.0.0.1:{gateway.port}/messages",
        sms_gateway_token=TOKEN,
        sms_timeout=5.0,
        notify_retry_base=0.05,
        notify_retry_cap=0.2,
        notify_max_attempts=4,
        notify_poll_interval=0.05,
    )


StartNotifier = Callable[..., AbstractAsyncContextManager[NotifierSettings]]


@pytest.fixture
def start_notifier(
    notifier_settings: NotifierSettings, run_app: Any, notifier_db: Any
) -> StartNotifier:
    """``async with start_notifier(**overrides) as settings:`` runs the notifier."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[NotifierSettings]:
        settings = notifier_settings.model_copy(update=overrides)
        async with run_app(create_app(settings, configure_logging=False)):
            yield settings

    return start


@pytest.fixture
async def notifier(start_notifier: StartNotifier) -> AsyncIterator[NotifierSettings]:
    async with start_notifier() as settings:
        yield settings


@pytest.fixture
async def notifier_db(notifier_settings: NotifierSettings) -> AsyncIterator[Any]:
    client = make_client(notifier_settings.mongo_url, "tests")
    db = client[notifier_settings.database_name("notifier")]
    yield db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.store)])
async def any_store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A store for the use cases: in memory, or over MongoDB (its outbox recorded)."""
    if request.param == "memory":
        yield MemoryNotifierStore()
        return
    client = make_client(request.getfixturevalue("mongo_url"), "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    store = MongoNotifierStore(db, Outbox(RecordingMessenger()))  # type: ignore[arg-type]
    await store.ensure_indexes()
    yield store
    await client.drop_database(db.name)
    await client.close()


class Jobs:
    """The notifier's delivery log, read directly to see what it has recorded."""

    def __init__(self, db: Any) -> None:
        self.collection = db["notifications"]

    async def of(self, number: str) -> list[dict[str, Any]]:
        cursor = self.collection.find({"application_number": number}).sort("_id", 1)
        return list(await cursor.to_list())

    async def wait(
        self, number: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(found := await self.of(number)):
            if asyncio.get_running_loop().time() > deadline:
                states = [(job["_id"], job["state"], job.get("attempts")) for job in found]
                raise AssertionError(f"jobs of {number} did not get there: {states}")
            await asyncio.sleep(0.02)
        return found


@pytest.fixture
def jobs(notifier_db: Any) -> Jobs:
    return Jobs(notifier_db)


@pytest.fixture
async def outcomes(rabbitmq_url: str) -> AsyncIterator[EventLog]:
    async with EventLog(rabbitmq_url, patterns=("notification.*",)) as log:
        yield log


# Publishes application.* events on meter.events as intake and dispatcher do.
Publisher = EventPublisher


@pytest.fixture
async def events(rabbitmq_url: str) -> AsyncIterator[Publisher]:
    async with Publisher(rabbitmq_url) as publisher:
        yield publisher


def registered(
    number: str,
    *,
    language: str = "az",
    phone: str = "+994501234567",
    email: str = "citizen@example.az",
    address: str | None = None,
) -> dict[str, Any]:
    body = {
        "application_number": number,
        "occurred_at": "2026-11-27T10:00:00.000+04:00",
        "sequence": 1,
        "subscriber_code": "1000001",
        "applicant_fin": "5ABCD12",
        "channel": "e-gov",
        "reason_code": "new_installation",
        "language": language,
        "district_code": "BAK-NAS",
        "additional_meter": False,
        "contact": {"phone": phone, "email": email},
        "notes": "",
    }
    if address is not None:
        body["address"] = address
    return body


def forwarded(number: str) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": "2026-11-27T10:00:01.000+04:00",
        "sequence": 2,
        "district_code": "BAK-NAS",
    }


def completed(
    number: str, outcome: str = "installed", serial: str = "WM-77001", act: str = "AKT-2026-0042"
) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": "2026-11-28T12:00:00.000+04:00",
        "sequence": 4,
        "outcome": outcome,
        "act": {
            "act_number": act,
            "meter_serial": serial,
            "meter_model": "Itron Flodis",
            "initial_reading_m3": "0.000",
            "seal_numbers": ["S-1"],
            "installed_at": "2026-11-28T11:00:00+04:00",
            "installer_name": "Əli Məmmədov",
        },
    }


def withdrawn(number: str, sequence: int = 3) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": "2026-11-27T11:00:00.000+04:00",
        "sequence": sequence,
    }


def overdue(number: str) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": "2026-12-12T00:00:00.000+04:00",
        "sequence": 3,
        "due_by": "2026-12-11",
        "district_code": "BAK-NAS",
    }


def rejected(number: str, reason_code: str = "no_meter_stock") -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": "2026-11-27T10:00:02.000+04:00",
        "sequence": 3,
        "reason_code": reason_code,
        "comment": "Rayonda sayğac ehtiyatı yoxdur.",
    }
