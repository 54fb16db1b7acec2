"""Copies of one command over the real broker get the same answer (docs/reliability.md).

Three dispatchers take copies of the same report (one ``message_id``) at once: every copy
is answered ``accepted``, the work order closes once and no refusal is stored. A stock
receipt delivered again adds nothing and answers the free stock of now. The rules are in
``test_usecases`` (in-process).
"""

from __future__ import annotations

import asyncio
import uuid
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

COPIES = 40


async def test_concurrent_copies_of_one_report_are_all_accepted_and_close_it_once(
    dispatcher_settings: DispatcherSettings,
    store: MongoDispatcherStore,
    run_app: Any,
    rabbitmq_url: str,
    clock: MovableClock,
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    async with AsyncExitStack() as stack:
        for _ in range(3):  # three dispatcher instances share the copies
            app = create_app(dispatcher_settings, configure_logging=False, clock=clock)
            await stack.enter_async_context(run_app(app))
        events = await stack.enter_async_context(EventLog(rabbitmq_url))
        field_app = await stack.enter_async_context(Portal(rabbitmq_url))
        await publish_registered(rabbitmq_url, registered("BAK-NAS"))
        [assigned] = await events.wait_for("application.assigned")
        body, message_id = report(assigned), str(uuid.uuid4())

        replies = await asyncio.gather(
            *(
                field_app.request("dispatcher.report_outcome", body, message_id=message_id)
                for _ in range(COPIES)
            )
        )
        await events.wait_for("application.completed")
        await asyncio.sleep(0.5)

        assert [reply.body for reply in replies] == [{"outcome": "accepted"}] * COPIES
        assert len(events.bodies("application.completed")) == 1
    assert await store.replies.count_documents({}) == 0, "no refusal stored for any copy"
    stock = await level(store, "BAK-NAS")
    assert (stock.received, stock.reserved, stock.consumed) == (3, 0, 1)
    closed = await store.work_order_by_message(message_id)
    assert closed is not None
    assert closed["status"] == "completed"


async def test_a_receipt_delivered_again_answers_the_free_stock_now(
    dispatcher: Any, store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "GNC-01")])
    receipt, message_id = {"district_code": "GNC-01", "quantity": 4}, str(uuid.uuid4())
    async with Portal(rabbitmq_url) as operator:
        first = await operator.request("dispatcher.receive_stock", receipt, message_id=message_id)
        await publish_registered(rabbitmq_url, registered("GNC-01"))  # reserves one meter
        await events.wait_for("application.assigned")
        again = await operator.request("dispatcher.receive_stock", receipt, message_id=message_id)

    assert first.body == {"outcome": "accepted", "in_stock": 4}
    assert again.body == {"outcome": "accepted", "in_stock": 3}, "now, not the first answer"
    stock = await level(store, "GNC-01")
    assert (stock.received, stock.reserved, stock.available) == (4, 1, 3)
