"""Field apps over the real broker: work orders on ``meter.field``, and the team check.

The rules are in ``test_dispatch_rules`` and ``test_team_check`` (in-process); here are
the routing keys, the message properties and the refusal as a field app receives them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from services.dispatcher.domain import workorders
from services.dispatcher.main import create_app
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from tests.dispatcher.conftest import (
    MovableClock,
    given,
    level,
    publish_registered,
    registered,
    report,
    team,
)
from tests.dispatcher.feed import FieldFeed
from tests.shared.test_health import samples, value
from tests.support.amqp import EventLog, Portal
from tests.support.infra import free_port

pytestmark = pytest.mark.broker

FIELDS = [
    "work_order_id",
    "application_number",
    "team_id",
    "subscriber_code",
    "address",
    "district_code",
    "reason_code",
    "additional_meter",
    "phone",
    "notes",
]


async def test_each_assignment_reaches_only_its_teams_key_on_meter_field(
    dispatcher: Any, store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 5})
    body = registered("BAK-NAS", notes="Zəng edin.", address="Bakı, Azadlıq pr. 12")
    async with FieldFeed(rabbitmq_url, ("T-01",)) as t01, FieldFeed(rabbitmq_url, ("T-02",)) as t02:
        await publish_registered(rabbitmq_url, body)

        [work_order] = await t01.wait_for()
        [assigned] = await events.wait_for("application.assigned")
        await asyncio.sleep(0.3)

    assert list(work_order) == FIELDS
    assert work_order == {
        "work_order_id": assigned["work_order_id"],
        "application_number": body["application_number"],
        "team_id": "T-01",
        "subscriber_code": "1000001",
        "address": "Bakı, Azadlıq pr. 12",
        "district_code": "BAK-NAS",
        "reason_code": "new_installation",
        "additional_meter": False,
        "phone": "+994501234567",
        "notes": "Zəng edin.",
    }
    assert re.fullmatch(r"WO-[0-9A-F]{16}", work_order["work_order_id"])
    [message] = t01.received
    assert (message.exchange, message.routing_key) == ("meter.field", "team.T-01")
    assert (message.type, message.app_id) == ("work_order.assigned", "dispatcher")
    assert message.delivery_mode == 2
    assert message.content_type == "application/json"
    assert message.message_id
    assert t02.received == [], "another team's key gets nothing"
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert stored.get("outbox", []) == [], "the work order left with the event, from one write"


@pytest.fixture
async def t02_only(
    dispatcher_settings: DispatcherSettings,
    dispatcher_db: Any,
    run_app: Any,
    clock: MovableClock,
) -> AsyncIterator[Any]:
    """The dispatcher with FIELD_USERS=guest=T-02: guest may report for T-02 only."""
    settings = dispatcher_settings.model_copy(
        update={"field_users": {"guest": frozenset({"T-02"})}}
    )
    app = create_app(settings, configure_logging=False, clock=clock)
    async with run_app(app):
        yield app


async def test_a_report_for_another_teams_work_order_is_forbidden_over_the_broker(
    t02_only: Any, store: MongoDispatcherStore, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    async with EventLog(rabbitmq_url, patterns=("application.*",)) as events:
        await publish_registered(rabbitmq_url, registered("BAK-NAS"))
        [assigned] = await events.wait_for("application.assigned")
        async with Portal(rabbitmq_url) as field_app:
            reply = await field_app.request("dispatcher.report_outcome", report(assigned))
        await asyncio.sleep(0.3)

        assert reply.outcome == "refused"
        assert [(e["field"], e["code"]) for e in reply.body["errors"]] == [("team_id", "forbidden")]
        assert reply.message.type == "ReportOutcomeReply"
        assert events.bodies("application.completed") == []
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed) == (1, 0)
    stored = await store.work_order(assigned["application_number"])
    assert stored is not None
    assert stored["status"] == "assigned"
    assert await store.replies.count_documents({}) == 0, "no refusal stored"


async def test_a_work_order_no_queue_of_its_team_takes_is_counted_and_sent_once_one_is_bound(
    dispatcher_settings: DispatcherSettings,
    dispatcher_db: Any,
    store: MongoDispatcherStore,
    run_app: Any,
    clock: MovableClock,
    rabbitmq_url: str,
) -> None:
    """T-02 has a field app bound, T-01 none: T-01's work order is delivered nowhere, which
    the dispatcher logs (work order and team) and counts on /metrics, and T-02's is not
    counted. The application goes on (assigned, its work order stored). Once T-01's field
    app binds its queue, the housekeeping's next offer after RESEND_AFTER reaches it."""
    port = free_port()
    settings = dispatcher_settings.model_copy(update={"health_port": port})
    teams = [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")]
    await given(store, teams, {"BAK-NAS": 2, "BAK-YAS": 2})
    with capture_logs() as logs:
        async with (
            run_app(create_app(settings, configure_logging=False, clock=clock)),
            EventLog(rabbitmq_url, patterns=("application.*",)) as events,
            FieldFeed(rabbitmq_url, ("T-02",)) as t02,
        ):
            await publish_registered(rabbitmq_url, registered("BAK-NAS"), registered("BAK-YAS"))
            assigned = await events.wait_for("application.assigned", count=2)
            [delivered] = await t02.wait_for()
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                metrics = (await http.get("/metrics")).text
            async with FieldFeed(rabbitmq_url, ("T-01",)) as t01:
                await asyncio.sleep(0.5)  # a few housekeeping rounds: not before RESEND_AFTER
                assert t01.received == []
                clock.now += workorders.RESEND_AFTER
                [resent] = await t01.wait_for()
                await asyncio.sleep(0.5)  # and no second copy
                assert len(t01.received) == 1
    lost = next(a for a in assigned if a["team_id"] == "T-01")
    assert delivered["team_id"] == "T-02"
    unrouted = [log for log in logs if log["event"].startswith("message published where no")]
    assert [(log["routing_key"], log["message_type"]) for log in unrouted] == [
        ("team.T-01", "work_order.assigned")
    ]
    assert unrouted[0]["application_number"] == lost["application_number"]
    assert unrouted[0]["work_order_id"] == lost["work_order_id"]
    found = samples(metrics)
    counted = value(
        found, "meter_outbox_unrouted_total", service="dispatcher", exchange="meter.field"
    )
    assert counted == 1
    assert value(found, "meter_dispatcher_work_orders_unsent") == 1  # until T-01 binds
    stored = await store.work_order(lost["application_number"])
    assert stored is not None
    assert (stored["status"], stored.get("outbox", [])) == ("assigned", [])
    assert "unrouted_at" not in stored
    assert (resent["work_order_id"], resent["application_number"], resent["team_id"]) == (
        lost["work_order_id"],
        lost["application_number"],
        "T-01",
    )
    assert list(resent) == FIELDS
    again = [log for log in logs if log["event"].startswith("work order sent again")]
    assert [log["work_order_id"] for log in again] == [lost["work_order_id"]]
