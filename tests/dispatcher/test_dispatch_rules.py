"""Which team gets an application, what stock it takes, and receiving stock (in-process).

The dispatcher's routes are called directly over the in-memory store, so reading, rules,
replies and events are the service's own; delivery over the broker, the housekeeping loop
and races between dispatchers are proven in ``test_routing`` and ``test_stock``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.dispatcher.conftest import LocalDispatcher, given, level, registered, team
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


async def assign_one(local: LocalDispatcher, body: dict[str, Any]) -> dict[str, Any]:
    """Deliver one application and return its ``application.assigned`` event."""
    await local.publish_registered(body)
    [event] = [
        e
        for e in local.events.bodies("application.assigned")
        if e["application_number"] == body["application_number"]
    ]
    return event


async def test_an_application_is_forwarded_then_assigned_with_what_the_field_app_needs(
    local: LocalDispatcher, store: MemoryDispatcherStore, events: PublishedEvents
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 5})
    body = registered("BAK-NAS")
    number = body["application_number"]

    await local.publish_registered(body)

    stored = await store.work_order(number)
    assert stored is not None
    work_order_id = stored["work_order_id"]
    assert re.fullmatch(r"WO-[0-9A-F]{16}", work_order_id), "not derived from the number"
    assert events.bodies() == [
        {
            "application_number": number,
            "occurred_at": "2026-11-26T10:00:00.000+04:00",
            "sequence": 2,
            "district_code": "BAK-NAS",
        },
        {
            "application_number": number,
            "occurred_at": "2026-11-26T10:00:00.000+04:00",
            "sequence": 3,
            "work_order_id": work_order_id,
            "team_id": "T-01",
            "district_code": "BAK-NAS",
            "subscriber_code": "1000001",
            "reason_code": "new_installation",
        },
    ]
    assert [list(event) for event in events.bodies("application.assigned")] == [
        [
            "application_number",
            "occurred_at",
            "sequence",
            "work_order_id",
            "team_id",
            "district_code",
            "subscriber_code",
            "reason_code",
        ]
    ]


async def test_the_assigned_team_gets_its_work_order_on_meter_field_without_fin_or_email(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 5})
    body = registered(
        "BAK-NAS",
        notes="Zəng edin.",
        additional_meter=True,
        address="Bakı, Nəsimi r-nu, Azadlıq pr. 12",
    )

    await local.publish_registered(body)

    [message] = store.field_published
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert (message.exchange, message.routing_key) == ("meter.field", "team.T-01")
    assert message.message_type == "work_order.assigned"
    assert message.body() == {
        "work_order_id": stored["work_order_id"],
        "application_number": body["application_number"],
        "team_id": "T-01",
        "subscriber_code": "1000001",
        "address": "Bakı, Nəsimi r-nu, Azadlıq pr. 12",
        "district_code": "BAK-NAS",
        "reason_code": "new_installation",
        "additional_meter": True,
        "phone": "+994501234567",
        "notes": "Zəng edin.",
    }


async def test_a_registration_without_an_address_gives_the_team_an_empty_one(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 5})
    await local.publish_registered(registered("BAK-NAS"))  # from an intake before addresses
    [message] = store.field_published
    assert message.address == ""


async def test_a_waiting_work_order_reaches_meter_field_when_it_is_assigned(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=0)], {"GNC-01": 5})
    body = registered("GNC-01", address="Gəncə, Nizami küç. 3")
    await local.publish_registered(body)
    assert store.field_published == []

    await store.upsert_teams([team("T-01", "GNC-01", capacity=1)])
    assert await local.dispatcher.assign_waiting() == 1

    [message] = store.field_published
    assert (message.application_number, message.team_id) == (body["application_number"], "T-01")
    assert (message.address, message.phone) == ("Gəncə, Nizami küç. 3", "+994501234567")


async def test_work_order_ids_differ_for_every_application(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=50)], {"BAK-NAS": 50})
    for _ in range(20):
        await local.publish_registered(registered("BAK-NAS"))
    ids = {order["work_order_id"] for order in await store.work_orders()}
    assert len(ids) == 20


async def test_prefers_the_least_loaded_team_and_breaks_ties_by_team_id(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(
        store,
        [team("T-02", "BAK-NAS"), team("T-01", "BAK-NAS;BAK-YAS"), team("T-09", "SUM-01")],
        {"BAK-NAS": 10},
    )
    chosen = [(await assign_one(local, registered("BAK-NAS")))["team_id"] for _ in range(4)]
    assert chosen == ["T-01", "T-02", "T-01", "T-02"]


async def test_a_team_at_its_daily_capacity_is_passed_over(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(
        store, [team("T-01", "BAK-NAS", capacity=1), team("T-02", "BAK-NAS")], {"BAK-NAS": 10}
    )
    chosen = [(await assign_one(local, registered("BAK-NAS")))["team_id"] for _ in range(3)]
    assert chosen == ["T-01", "T-02", "T-02"]


async def test_no_free_meter_rejects_the_application_at_once_with_no_meter_stock(
    local: LocalDispatcher, store: MemoryDispatcherStore, events: PublishedEvents
) -> None:
    await given(store, [team("T-01", "BAK-XAT")], {"BAK-XAT": 1})
    await assign_one(local, registered("BAK-XAT"))  # takes the only meter
    az, en = registered("BAK-XAT"), registered("BAK-XAT", language="en")

    await local.publish_registered(az, en)

    rejected = await events.wait_for("application.rejected", 2)
    by_number = {event["application_number"]: event for event in rejected}
    assert by_number[az["application_number"]]["reason_code"] == "no_meter_stock"
    assert by_number[az["application_number"]]["sequence"] == 3
    assert "sayğac" in by_number[az["application_number"]]["comment"]
    assert "no water meter in stock" in by_number[en["application_number"]]["comment"]
    assert len(events.bodies("application.forwarded")) == 3, "forwarded first, as always"
    assert len(events.bodies("application.assigned")) == 1
    stock = await level(store, "BAK-XAT")
    assert (stock.received, stock.reserved, stock.available) == (1, 1, 0)
    loads = await store.team_loads("2026-11-26", ["T-01"])
    assert len(loads["T-01"]) == 1, "a rejected application takes no team capacity"
    assert list(by_number[az["application_number"]]) == [
        "application_number",
        "occurred_at",
        "sequence",
        "reason_code",
        "comment",
        "work_order_id",
    ]


async def test_reasons_that_need_no_meter_are_assigned_without_stock(
    local: LocalDispatcher, store: MemoryDispatcherStore, events: PublishedEvents
) -> None:
    await given(store, [team("T-04", "SUM-01")])
    relocate = await assign_one(local, registered("SUM-01", "relocate_meter"))
    existing = await assign_one(local, registered("SUM-01", "register_existing"))
    assert relocate["team_id"] == existing["team_id"] == "T-04"
    assert await store.stock_levels() == []
    assert events.bodies("application.rejected") == []


async def test_received_stock_is_answered_with_the_free_meters(
    local: LocalDispatcher,
    store: MemoryDispatcherStore,
    field_app: LocalPortal,
    events: PublishedEvents,
) -> None:
    await given(store, [team("T-05", "GNC-01")])
    first = await field_app.request(
        "dispatcher.receive_stock", {"district_code": "GNC-01", "quantity": 2}
    )
    await local.publish_registered(registered("GNC-01"))
    await events.wait_for("application.assigned")
    second = await field_app.request(
        "dispatcher.receive_stock", {"district_code": "GNC-01", "quantity": 5}
    )

    assert first.body == {"outcome": "accepted", "in_stock": 2}
    assert first.message.type == "ReceiveStockReply"
    assert second.body == {"outcome": "accepted", "in_stock": 6}, "the reserved one is not free"
    stock = await level(store, "GNC-01")
    assert (stock.received, stock.reserved, stock.available) == (7, 1, 6)


async def test_the_same_receipt_delivered_twice_adds_its_meters_once(
    store: MemoryDispatcherStore, field_app: LocalPortal
) -> None:
    message_id = str(uuid.uuid4())
    body = {"district_code": "SUM-01", "quantity": 4}
    first = await field_app.request("dispatcher.receive_stock", body, message_id=message_id)
    second = await field_app.request("dispatcher.receive_stock", body, message_id=message_id)

    assert first.body == second.body == {"outcome": "accepted", "in_stock": 4}
    assert (await level(store, "SUM-01")).received == 4


@pytest.mark.parametrize(
    ("body", "codes"),
    [
        ({"district_code": "SUM-01", "quantity": 0}, ["invalid_type"]),
        ({"district_code": "SUM-01", "quantity": -3}, ["invalid_type"]),
        ({"district_code": "SUM-01", "quantity": 2.5}, ["invalid_type"]),
        ({"district_code": "SUM-01", "quantity": "5"}, ["invalid_type"]),
        ({"district_code": "SUM-01", "quantity": True}, ["invalid_type"]),
        ({"district_code": " ", "quantity": 5}, ["required"]),
        ({"quantity": 5}, ["required"]),
        ({"district_code": "SUM-01", "quantity": 5, "note": "x"}, ["unknown_field"]),
    ],
)
async def test_a_bad_receipt_is_refused_and_changes_nothing(
    body: dict[str, Any], codes: list[str], store: MemoryDispatcherStore, field_app: LocalPortal
) -> None:
    reply = await field_app.request("dispatcher.receive_stock", body)
    assert reply.outcome == "refused"
    assert reply.codes() == codes
    assert await store.stock_levels() == []


async def test_a_receipt_counts_into_the_trimmed_district(
    store: MemoryDispatcherStore, field_app: LocalPortal
) -> None:
    reply = await field_app.request(
        "dispatcher.receive_stock", {"district_code": " GNC-01 ", "quantity": 3}
    )
    assert reply.body == {"outcome": "accepted", "in_stock": 3}
    assert [found.district_code for found in await store.stock_levels()] == ["GNC-01"]
