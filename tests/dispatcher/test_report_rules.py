"""A field team's report: what each outcome does and each broken rule answers (in-process).

The field app here calls the dispatcher's routes directly over the in-memory store, so
the reading of bodies, the rules, the replies and the events are the service's own;
delivery over the broker is proven in ``test_outcomes``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.dispatcher.conftest import (
    LocalDispatcher,
    act,
    given,
    level,
    registered,
    report,
    team,
)
from tests.dispatcher.fakes import MemoryDispatcherStore, PublishedEvents
from tests.support.inprocess import LocalPortal


@pytest.fixture
def store(local: LocalDispatcher) -> MemoryDispatcherStore:
    return local.store


@pytest.fixture
def events(local: LocalDispatcher) -> PublishedEvents:
    return local.events


@pytest.fixture
def field_app(local: LocalDispatcher) -> LocalPortal:
    return local.field_app


@pytest.fixture
async def assigned(
    local: LocalDispatcher, store: MemoryDispatcherStore, events: PublishedEvents
) -> dict[str, Any]:
    """One new-installation application in BAK-NAS assigned to T-01, its meter reserved."""
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 3})
    await local.publish_registered(registered("BAK-NAS", language="en"))
    [event] = await events.wait_for("application.assigned")
    return event


async def test_an_existing_meter_registered_releases_the_reservation(
    assigned: dict[str, Any],
    field_app: LocalPortal,
    events: PublishedEvents,
    store: MemoryDispatcherStore,
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
    field_app: LocalPortal,
    events: PublishedEvents,
    store: MemoryDispatcherStore,
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


async def test_an_empty_comment_becomes_a_sentence_in_the_applications_language(
    assigned: dict[str, Any], field_app: LocalPortal, events: PublishedEvents
) -> None:
    body = report(assigned, "not_executed", reason_code="no_meter_stock", comment="")
    await field_app.request("dispatcher.report_outcome", body)
    [rejected] = await events.wait_for("application.rejected")
    assert rejected["comment"] == (
        "There is currently no water meter in stock for installation in your area."
    )
    assert rejected["work_order_id"] == assigned["work_order_id"]


async def test_the_team_comment_is_the_rejection_comment(
    assigned: dict[str, Any], field_app: LocalPortal, events: PublishedEvents
) -> None:
    body = report(assigned, "not_executed", comment="Boru köhnədir, dəyişdirilməlidir.")
    await field_app.request("dispatcher.report_outcome", body)
    [rejected] = await events.wait_for("application.rejected")
    assert rejected["comment"] == "Boru köhnədir, dəyişdirilməlidir."


async def test_a_new_report_on_a_closed_work_order_is_refused(
    assigned: dict[str, Any],
    field_app: LocalPortal,
    events: PublishedEvents,
    store: MemoryDispatcherStore,
) -> None:
    await field_app.request("dispatcher.report_outcome", report(assigned))
    again = await field_app.request("dispatcher.report_outcome", report(assigned, "not_executed"))

    assert again.outcome == "refused"
    assert again.codes() == ["work_order_closed"]
    assert again.body["errors"][0]["message"] == "İş sifarişi artıq bağlanıb."
    assert events.bodies("application.rejected") == []
    assert (await level(store, "BAK-NAS")).consumed == 1


async def test_a_redelivered_refusal_gets_the_same_refusal(
    assigned: dict[str, Any], field_app: LocalPortal
) -> None:
    message_id = str(uuid.uuid4())
    bad = report(assigned, act=act(meter_serial=""))
    first = await field_app.request("dispatcher.report_outcome", bad, message_id=message_id)
    # Closed meanwhile by a good report...
    await field_app.request("dispatcher.report_outcome", report(assigned))
    second = await field_app.request("dispatcher.report_outcome", bad, message_id=message_id)
    assert first.codes() == second.codes() == ["invalid_act"]
    assert first.body == second.body


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
    field_app: LocalPortal,
    store: MemoryDispatcherStore,
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
    change: dict[str, Any], codes: list[str], assigned: dict[str, Any], field_app: LocalPortal
) -> None:
    body = report(assigned, "not_executed", **change)
    reply = await field_app.request("dispatcher.report_outcome", body)
    assert reply.codes() == codes


async def test_shape_errors_and_the_work_orders_own_rule_are_reported_together(
    assigned: dict[str, Any], field_app: LocalPortal
) -> None:
    body = report(assigned, team_id="T-02", act=act(meter_serial=""), priority="high")
    reply = await field_app.request("dispatcher.report_outcome", body)
    assert [(error["field"], error["code"]) for error in reply.body["errors"]] == [
        ("priority", "unknown_field"),
        ("team_id", "wrong_team"),
    ], "an act is checked only once the body is well formed"
    reply = await field_app.request(
        "dispatcher.report_outcome", report(assigned, team_id="T-02", act=act(meter_serial=""))
    )
    assert reply.codes() == ["invalid_act", "wrong_team"]


async def test_a_report_on_a_waiting_work_order_is_from_the_wrong_team(
    local: LocalDispatcher,
    store: MemoryDispatcherStore,
    events: PublishedEvents,
    field_app: LocalPortal,
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 1})
    body = registered("BAK-NAS")
    await local.publish_registered(body)
    await events.wait_for("application.forwarded")
    number = body["application_number"]
    stored = await store.work_order(number)
    assert stored is not None
    waiting = {"application_number": number, "work_order_id": stored["work_order_id"]}
    waiting["team_id"] = "T-01"

    reply = await field_app.request("dispatcher.report_outcome", report(waiting))

    assert reply.codes() == ["wrong_team"]


async def test_a_report_on_an_application_rejected_for_want_of_stock_is_work_order_closed(
    local: LocalDispatcher,
    store: MemoryDispatcherStore,
    events: PublishedEvents,
    field_app: LocalPortal,
) -> None:
    await given(store, [team("T-01", "BAK-XAT")], {})
    application = registered("BAK-XAT")
    await local.publish_registered(application)
    await events.wait_for("application.rejected")
    work_order = await store.work_order(application["application_number"])
    assert work_order is not None

    reply = await field_app.request(
        "dispatcher.report_outcome",
        report({**application, "work_order_id": work_order["work_order_id"], "team_id": "T-01"}),
    )
    assert reply.codes() == ["work_order_closed"]
