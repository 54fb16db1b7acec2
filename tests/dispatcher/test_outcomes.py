"""A field team's report over the real broker: the reply, the event, redelivery, parking.

What each outcome does and each broken rule answers is in ``test_report_rules``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import (
    act,
    given,
    level,
    publish_registered,
    registered,
    report,
    team,
)
from tests.support.amqp import EventLog, Portal, drain

pytestmark = pytest.mark.broker


@pytest.fixture
async def assigned(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> dict[str, Any]:
    """One new-installation application in BAK-NAS assigned to T-01, its meter reserved."""
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 3})
    await publish_registered(rabbitmq_url, registered("BAK-NAS", language="en"))
    [event] = await events.wait_for("application.assigned")
    return event


async def test_installed_consumes_the_reserved_meter_and_completes_the_application(
    assigned: dict[str, Any], field_app: Portal, events: EventLog, store: MongoDispatcherStore
) -> None:
    reply = await field_app.request("dispatcher.report_outcome", report(assigned))

    assert reply.body == {"outcome": "accepted"}
    assert reply.message.type == "ReportOutcomeReply"
    [completed] = await events.wait_for("application.completed")
    assert completed["application_number"] == assigned["application_number"]
    assert completed["sequence"] == 4
    assert completed["outcome"] == "installed"
    assert completed["act"] == act()
    assert completed["occurred_at"].endswith("+04:00")
    stock = await level(store, "BAK-NAS")
    assert (stock.received, stock.reserved, stock.consumed, stock.available) == (3, 0, 1, 2)
    for _ in range(100):  # the settled mark leaves with the service's next batch
        stored = await store.work_order(assigned["application_number"])
        assert stored is not None
        if "stock_pending" not in stored:
            break
        await asyncio.sleep(0.05)
    assert stored["status"] == "completed"
    assert "stock_pending" not in stored


async def test_a_report_delivered_twice_closes_the_work_order_once(
    assigned: dict[str, Any], field_app: Portal, events: EventLog, store: MongoDispatcherStore
) -> None:
    message_id = str(uuid.uuid4())
    body = report(assigned)
    first = await field_app.request("dispatcher.report_outcome", body, message_id=message_id)
    second = await field_app.request("dispatcher.report_outcome", body, message_id=message_id)

    assert first.body == second.body == {"outcome": "accepted"}
    await events.wait_for("application.completed")
    await asyncio.sleep(0.5)
    assert len(events.bodies("application.completed")) == 1
    assert (await level(store, "BAK-NAS")).consumed == 1


async def test_a_report_that_is_not_json_is_answered_and_parked(
    assigned: dict[str, Any], field_app: Portal, rabbitmq_url: str
) -> None:
    reply = await field_app.request("dispatcher.report_outcome", b"{not json")

    assert reply.codes() == ["malformed_message"]
    [parked] = await drain(rabbitmq_url, "dispatcher.report_outcome.dlq")
    assert str(parked.headers["x-error"]).startswith("malformed_message")
