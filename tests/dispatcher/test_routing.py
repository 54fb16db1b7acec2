"""A registered application is forwarded, then routed to a team, over the real broker.

The choice of team and the stock rules are in ``test_dispatch_rules`` (in-process); here
are delivery, the housekeeping loop, redelivery, recovery and parking.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import (
    MovableClock,
    given,
    level,
    publish_registered,
    registered,
    team,
)
from tests.support.amqp import EventLog, drain

pytestmark = pytest.mark.broker


async def assign_one(url: str, events: EventLog, body: dict[str, Any]) -> dict[str, Any]:
    """Publish one application and return its ``application.assigned`` event."""
    before = len(events.bodies("application.assigned"))
    await publish_registered(url, body)
    assigned = await events.wait_for("application.assigned", before + 1)
    [event] = [e for e in assigned if e["application_number"] == body["application_number"]]
    return event


async def test_an_application_is_forwarded_then_assigned_to_a_team_of_its_district(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 5})
    body = registered("BAK-NAS")

    await publish_registered(rabbitmq_url, body)

    [forwarded] = await events.wait_for("application.forwarded")
    [assigned] = await events.wait_for("application.assigned")
    number = body["application_number"]
    assert forwarded == {
        "application_number": number,
        "occurred_at": "2026-11-26T10:00:00.000+04:00",
        "sequence": 2,
        "district_code": "BAK-NAS",
    }
    assert assigned["sequence"] == 3
    assert assigned["team_id"] == "T-01"
    assert re.fullmatch(r"WO-[0-9A-F]{16}", assigned["work_order_id"])
    ours = [m for m in events.received if m.routing_key != "application.registered"]
    assert [m.routing_key for m in ours] == ["application.forwarded", "application.assigned"]
    assert all(message.delivery_mode == 2 for message in ours)
    assert [message.type for message in ours] == [message.routing_key for message in ours]
    assert {message.app_id for message in ours} == {"dispatcher"}
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (1, 4)
    stored = await store.work_order(number)
    assert stored is not None
    assert (stored["status"], stored["team_id"], stored["sequence"]) == ("assigned", "T-01", 3)
    assert stored["work_order_id"] == assigned["work_order_id"]
    assert stored.get("outbox", []) == []


async def test_with_no_capacity_left_the_work_order_waits_until_the_next_baku_day(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=1)], {"BAK-NAS": 10})
    first = await assign_one(rabbitmq_url, events, registered("BAK-NAS"))
    late = registered("BAK-NAS")

    await publish_registered(rabbitmq_url, late)
    await events.wait_for("application.forwarded", 2)
    await asyncio.sleep(1.0)  # several housekeeping rounds find no capacity

    assert len(events.bodies("application.assigned")) == 1
    waiting = await store.work_order(late["application_number"])
    assert waiting is not None
    assert waiting["status"] == "waiting"
    assert (await level(store, "BAK-NAS")).reserved == 2, "its meter stays reserved"

    clock.next_day()
    assigned = await events.wait_for("application.assigned", 2)
    assert assigned[1]["application_number"] == late["application_number"]
    assert assigned[1]["team_id"] == first["team_id"]
    assert assigned[1]["sequence"] == 3
    stored = await store.work_order(late["application_number"])
    assert stored is not None
    assert (stored["status"], stored["assigned_day"]) == ("assigned", "2026-11-27")


async def test_a_work_order_waiting_for_a_district_without_teams_goes_to_an_imported_team(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-YAS": 3})
    body = registered("BAK-YAS")
    await publish_registered(rabbitmq_url, body)
    await events.wait_for("application.forwarded")
    await asyncio.sleep(0.6)
    assert events.bodies("application.assigned") == []

    await given(store, [team("T-01", "BAK-NAS;BAK-YAS")])  # the team now serves BAK-YAS too

    [assigned] = await events.wait_for("application.assigned")
    assert assigned["application_number"] == body["application_number"]
    assert assigned["team_id"] == "T-01"


async def test_waiting_work_orders_are_assigned_oldest_first_as_capacity_grows(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=0)], {"GNC-01": 5})
    bodies = [registered("GNC-01") for _ in range(3)]
    for body in bodies:
        await publish_registered(rabbitmq_url, body)
        await events.wait_for("application.forwarded", bodies.index(body) + 1)

    await given(store, [team("T-01", "GNC-01", capacity=2)])

    assigned = await events.wait_for("application.assigned", 2)
    await asyncio.sleep(0.6)
    assert [event["application_number"] for event in events.bodies("application.assigned")] == [
        body["application_number"] for body in bodies[:2]
    ]
    still = await store.work_order(bodies[2]["application_number"])
    assert still is not None
    assert still["status"] == "waiting"
    assert len(assigned) == 2


async def test_a_registered_event_delivered_twice_creates_one_work_order(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-NAS")], {"BAK-NAS": 5})
    body = registered("BAK-NAS")

    await publish_registered(rabbitmq_url, body, body, body)
    await events.wait_for("application.assigned")
    await asyncio.sleep(0.5)

    assert len(events.bodies("application.forwarded")) == 1
    assert len(events.bodies("application.assigned")) == 1
    assert await store.work_orders() != []
    assert len(await store.work_orders()) == 1
    assert (await level(store, "BAK-NAS")).reserved == 1
    loads = await store.team_loads("2026-11-26", ["T-01", "T-02"])
    assert sum(len(orders) for orders in loads.values()) == 1


async def test_a_meter_reserved_before_a_crash_is_the_one_the_work_order_keeps(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    body = registered("BAK-NAS")
    # The first delivery reserved a meter and took a team slot, then the process died.
    assert await store.reserve("BAK-NAS", body["application_number"])
    assert await store.claim((await store.teams())[0], "2026-11-26", body["application_number"])

    await assign_one(rabbitmq_url, events, body)

    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (1, 1)
    loads = await store.team_loads("2026-11-26", ["T-01"])
    assert loads["T-01"] == [body["application_number"]]


async def test_an_event_without_an_application_number_is_parked_with_the_reason(
    store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    body = registered("BAK-NAS")
    del body["application_number"]
    await publish_registered(rabbitmq_url, body)

    for _ in range(100):
        parked = await drain(rabbitmq_url, "dispatcher.application_registered.dlq", timeout=0.2)
        if parked:
            break
    [message] = parked
    assert "application_number" in str(message.headers["x-error"])
    assert await store.work_orders() == []
