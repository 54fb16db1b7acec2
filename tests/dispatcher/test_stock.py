"""Meter stock: received over the broker, never negative, never leaking under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

import pytest

from services.dispatcher.main import create_app
from services.dispatcher.settings import DispatcherSettings
from services.dispatcher.store import MongoDispatcherStore
from tests.dispatcher.conftest import (
    MovableClock,
    given,
    level,
    publish_registered,
    registered,
    report,
    team,
)
from tests.support.amqp import EventLog, Portal

pytestmark = pytest.mark.broker


async def test_received_stock_is_answered_with_the_free_meters(
    store: MongoDispatcherStore, field_app: Portal, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-05", "GNC-01")])
    first = await field_app.request(
        "dispatcher.receive_stock", {"district_code": "GNC-01", "quantity": 2}
    )
    await publish_registered(rabbitmq_url, registered("GNC-01"))
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
    store: MongoDispatcherStore, field_app: Portal
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
    body: dict[str, Any], codes: list[str], store: MongoDispatcherStore, field_app: Portal
) -> None:
    reply = await field_app.request("dispatcher.receive_stock", body)
    assert reply.outcome == "refused"
    assert reply.codes() == codes
    assert await store.stock_levels() == []


async def test_concurrent_reservations_never_take_more_meters_than_received(
    store: MongoDispatcherStore,
) -> None:
    await given(store, stock={"BAK-NAS": 20})
    numbers = [f"SQ-2026-{index:06d}" for index in range(60)]

    held = await asyncio.gather(*(store.reserve("BAK-NAS", number) for number in numbers))
    again = await asyncio.gather(*(store.reserve("BAK-NAS", number) for number in numbers))

    assert sum(held) == 20
    assert again == held, "reserving is idempotent per application"
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (20, 0)


async def test_many_applications_at_one_district_at_once_keep_the_stock_balanced(
    dispatcher_settings: DispatcherSettings,
    store: MongoDispatcherStore,
    run_app: Any,
    rabbitmq_url: str,
    clock: MovableClock,
) -> None:
    received = 12
    await given(store, [team(f"T-{i:02d}", "BAK-NAS", capacity=100) for i in range(3)])
    await given(store, stock={"BAK-NAS": received})
    bodies = [registered("BAK-NAS") for _ in range(40)]
    async with AsyncExitStack() as stack:
        for _ in range(3):  # three dispatcher processes compete for the same stock
            app = create_app(dispatcher_settings, configure_logging=False, clock=clock)
            await stack.enter_async_context(run_app(app))
        events = await stack.enter_async_context(EventLog(rabbitmq_url))
        field_app = await stack.enter_async_context(Portal(rabbitmq_url))

        await asyncio.gather(*(publish_registered(rabbitmq_url, body) for body in bodies))
        assigned = await events.wait_for("application.assigned", received, timeout=60)
        rejected = await events.wait_for("application.rejected", len(bodies) - received)
        assert {e["reason_code"] for e in rejected} == {"no_meter_stock"}

        outcomes = ["installed"] * 5 + ["not_executed"] * 3 + ["existing_meter_registered"] * 2
        replies = await asyncio.gather(
            *(
                field_app.request("dispatcher.report_outcome", report(event, outcome))
                for event, outcome in zip(assigned, outcomes, strict=False)
            )
        )
        assert {reply.outcome for reply in replies} == {"accepted"}
        await events.wait_for("application.completed", 7)
        await asyncio.sleep(0.5)
        assert len(events.bodies("application.assigned")) == received
        assert len(events.bodies("application.forwarded")) == len(bodies)

    stock = await level(store, "BAK-NAS")
    assert stock.received == received
    assert (stock.reserved, stock.consumed, stock.available) == (2, 5, 5)
    assert stock.reserved + stock.consumed + stock.available == stock.received
    assert len(assigned) == received
    assert len(await store.work_orders_where({})) == len(bodies)
