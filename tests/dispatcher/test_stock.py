"""Meter stock never goes negative nor leaks with three dispatchers racing over the broker.

Receiving stock and its refusals are in ``test_dispatch_rules`` (in-process); concurrent
reservations on one district are in the store contract suite.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest

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
from tests.support.amqp import EventLog, Portal

pytestmark = pytest.mark.broker


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
        # Events come at least once (docs/integration.md: a repeat keeps its message_id, as
        # when a relay publishes an entry again): the distinct ones are counted.
        assert len(distinct(events, "application.assigned")) == received
        assert len(distinct(events, "application.forwarded")) == len(bodies)

    stock = await level(store, "BAK-NAS")
    assert stock.received == received
    assert (stock.reserved, stock.consumed, stock.available) == (2, 5, 5)
    assert stock.reserved + stock.consumed + stock.available == stock.received
    assert len(assigned) == received
    assert len(await store.work_orders()) == len(bodies)


def distinct(events: EventLog, routing_key: str) -> set[str]:
    """The message ids of the events published under ``routing_key``, each once."""
    return {str(m.message_id) for m in events.received if m.routing_key == routing_key}
