"""A field team closes its work order with an outcome; stock follows; bad reports refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.dispatcher.store import MongoDispatcherStore
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
    stored = await store.work_order(assigned["application_number"])
    assert stored is not None
    assert stored["status"] == "completed"
    assert "stock_pending" not in stored


async def test_an_existing_meter_registered_releases_the_reservation(
    assigned: dict[str, Any], field_app: Portal, events: EventLog, store: MongoDispatcherStore
) -> None:
    body = report(assigned, "existing_meter_registered", act=act(meter_model=""))
    reply = await field_app.request("dispatcher.report_outcome", body)

    assert reply.outcome == "accepted"
    [completed] = await events.wait_for("application.completed")
    assert completed["outcome"] == "existing_meter_registered"
    assert completed["act"]["meter_model"] == ""
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 0, 3)


@pytest.mark.parametrize("reason", ["unsuitable_water_line", "no_meter_stock"])
async def test_not_executed_releases_the_meter_and_rejects_with_the_reason(
    reason: str,
    assigned: dict[str, Any],
    field_app: Portal,
    events: EventLog,
    store: MongoDispatcherStore,
) -> None:
    body = report(assigned, "not_executed", reason_code=reason, comment="")
    reply = await field_app.request("dispatcher.report_outcome", body)

    assert reply.outcome == "accepted"
    [rejected] = await events.wait_for("application.rejected")
    assert rejected["reason_code"] == reason
    assert rejected["sequence"] == 4
    assert rejected["comment"], "an empty comment is replaced by a sentence"
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 0, 3)


async def test_the_team_comment_is_the_rejection_comment(
    assigned: dict[str, Any], field_app: Portal, events: EventLog
) -> None:
    body = report(assigned, "not_executed", comment="Boru köhnədir, dəyişdirilməlidir.")
    await field_app.request("dispatcher.report_outcome", body)
    [rejected] = await events.wait_for("application.rejected")
    assert rejected["comment"] == "Boru köhnədir, dəyişdirilməlidir."


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


async def test_a_new_report_on_a_closed_work_order_is_refused(
    assigned: dict[str, Any], field_app: Portal, events: EventLog, store: MongoDispatcherStore
) -> None:
    await field_app.request("dispatcher.report_outcome", report(assigned))
    again = await field_app.request("dispatcher.report_outcome", report(assigned, "not_executed"))

    assert again.outcome == "refused"
    assert again.codes() == ["work_order_closed"]
    assert again.body["errors"][0]["message"] == "İş sifarişi artıq bağlanıb."
    await asyncio.sleep(0.3)
    assert events.bodies("application.rejected") == []
    assert (await level(store, "BAK-NAS")).consumed == 1


async def test_a_redelivered_refusal_gets_the_same_refusal(
    assigned: dict[str, Any], field_app: Portal
) -> None:
    message_id = str(uuid.uuid4())
    bad = report(assigned, act=act(meter_serial=""))
    first = await field_app.request("dispatcher.report_outcome", bad, message_id=message_id)
    # Closed meanwhile by a good report...
    await field_app.request("dispatcher.report_outcome", report(assigned))
    second = await field_app.request("dispatcher.report_outcome", bad, message_id=message_id)
    assert first.codes() == second.codes() == ["invalid_act"]


@pytest.mark.parametrize(
    ("change", "codes"),
    [
        ({"work_order_id": "WO-1999-000001"}, ["unknown_work_order"]),
        ({"application_number": "SQ-1999-000001"}, ["unknown_work_order"]),
        ({"team_id": "T-02"}, ["wrong_team"]),
        ({"act": ...}, ["act_required"]),
        ({"act": None}, ["act_required"]),
        ({"act": "AKT-1"}, ["invalid_act"]),
        ({"act": act(seal_numbers=[])}, ["invalid_act"]),
        ({"act": act(initial_reading_m3=12.5)}, ["invalid_act"]),
        ({"act": act(installed_at="yesterday")}, ["invalid_act"]),
        ({"act": act(installer_name="  ", act_number=None)}, ["invalid_act", "invalid_act"]),
        ({"act": {**act(), "photo": "x.jpg"}}, ["invalid_act"]),
        ({"reason_code": "no_meter_stock"}, ["invalid_reason_code"]),
        ({"outcome": "done"}, ["invalid_type"]),
        ({"team_id": ...}, ["required"]),
        ({"work_order_id": 17}, ["invalid_type"]),
        ({"priority": "high"}, ["unknown_field"]),
    ],
)
async def test_a_bad_installed_report_is_refused_with_its_codes(
    change: dict[str, Any],
    codes: list[str],
    assigned: dict[str, Any],
    field_app: Portal,
    store: MongoDispatcherStore,
) -> None:
    reply = await field_app.request("dispatcher.report_outcome", report(assigned, **change))

    assert reply.outcome == "refused"
    assert reply.codes() == codes
    assert all(error["message"] for error in reply.body["errors"])
    stored = await store.work_order(assigned["application_number"])
    assert stored is not None
    assert stored["status"] == "assigned"
    assert (await level(store, "BAK-NAS")).reserved == 1


@pytest.mark.parametrize(
    ("change", "codes"),
    [
        ({"reason_code": ...}, ["invalid_reason_code"]),
        ({"reason_code": "customer_absent"}, ["invalid_reason_code"]),
        ({"act": act()}, ["invalid_act"]),
    ],
)
async def test_a_bad_not_executed_report_is_refused_with_its_codes(
    change: dict[str, Any], codes: list[str], assigned: dict[str, Any], field_app: Portal
) -> None:
    body = report(assigned, "not_executed", **change)
    reply = await field_app.request("dispatcher.report_outcome", body)
    assert reply.codes() == codes


async def test_a_report_on_a_waiting_work_order_is_from_the_wrong_team(
    store: MongoDispatcherStore, events: EventLog, field_app: Portal, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 1})
    body = registered("BAK-NAS")
    await publish_registered(rabbitmq_url, body)
    await events.wait_for("application.forwarded")
    number = body["application_number"]
    waiting = {"application_number": number, "work_order_id": "WO-" + number[3:], "team_id": "T-01"}

    reply = await field_app.request("dispatcher.report_outcome", report(waiting))

    assert reply.codes() == ["wrong_team"]


async def test_a_report_that_is_not_json_is_answered_and_parked(
    assigned: dict[str, Any], field_app: Portal, rabbitmq_url: str
) -> None:
    reply = await field_app.request("dispatcher.report_outcome", b"{not json")

    assert reply.codes() == ["malformed_message"]
    [parked] = await drain(rabbitmq_url, "dispatcher.report_outcome.dlq")
    assert str(parked.headers["x-error"]).startswith("malformed_message")
