"""A running dispatcher takes the ``stock_pending`` marks of settled work orders off in
batches (``shared.batching.Deferred``); a crash before the batch only leaves the settlement
to housekeeping, which finishes it without counting a meter twice."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.usecases import Dispatcher
from services.dispatcher.usecases.reporting import settle_stock
from shared.contracts.commands import ReportOutcome
from shared.contracts.events import ApplicationRegistered
from shared.contracts.reading import read_command
from tests.dispatcher.conftest import Commands, MovableClock, given, level, registered, report, team
from tests.dispatcher.test_recovery import closed_work_order

pytestmark = pytest.mark.store

NUMBERS = [f"SQ-2026-90000{n}" for n in range(1, 4)]


async def closed(store: MongoDispatcherStore, db: Any, numbers: list[str]) -> list[Any]:
    """Work orders closed by a report, each holding a reserved meter still to consume."""
    await given(store, stock={"BAK-NAS": 5})
    for number in numbers:
        assert await store.reserve("BAK-NAS", number)
        await db["work_orders"].insert_one(closed_work_order(number, "consume"))
    return [await store.work_order(number) for number in numbers]


async def marked(db: Any) -> int:
    return int(await db["work_orders"].count_documents({"stock_pending": {"$exists": True}}))


async def test_settled_marks_leave_in_one_write_and_are_not_seen_as_pending_meanwhile(
    counted_db: Any, commands: Commands
) -> None:
    store = MongoDispatcherStore(counted_db, settle_wait=0.3)
    work_orders = await closed(store, counted_db, NUMBERS)

    with commands.counting():
        for work_order in work_orders:
            await settle_stock(store, work_order)
    assert commands.count == len(NUMBERS), "one consume each; the marks wait for their batch"
    assert await marked(counted_db) == len(NUMBERS)
    assert await store.work_orders(stock_pending=True) == [], "settled, not pending"
    assert await Dispatcher(store).settle_pending() == 0

    for _ in range(100):
        await asyncio.sleep(0.05)
        if not await marked(counted_db):
            break
    assert await marked(counted_db) == 0
    assert store._settling is not None
    assert store._settling.batches == 1, "all three marks in one write"
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 3, 2)


async def test_marks_left_waiting_at_a_crash_are_settled_by_housekeeping_once(
    counted_db: Any,
) -> None:
    crashed = MongoDispatcherStore(counted_db, settle_wait=60)  # its batch never comes
    work_orders = await closed(crashed, counted_db, NUMBERS[:2])
    for work_order in work_orders:
        await settle_stock(crashed, work_order)
    assert crashed._settling is not None
    assert crashed._settling._runner is not None
    crashed._settling._runner.cancel()  # the process dies before the batch is written

    restarted = MongoDispatcherStore(counted_db, settle_wait=60)
    assert [w["_id"] for w in await restarted.work_orders(stock_pending=True)] == NUMBERS[:2]
    assert await Dispatcher(restarted).settle_pending() == 2
    await restarted.flush_settled()  # as at a clean stop
    assert await marked(counted_db) == 0
    stock = await level(restarted, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 2, 3), "consumed once"
    assert await restarted.work_orders(stock_pending=True) == []


async def test_a_registration_redelivered_while_its_closed_work_order_is_marked_takes_no_meter(
    counted_db: Any,
) -> None:
    """The copy must not reserve a meter under the number: with the first one's
    ``stock_pending`` still there, nothing could tell that meter from the consumed one,
    and settling the mark again would consume it too."""
    store = MongoDispatcherStore(counted_db, settle_wait=60)  # the mark stays meanwhile
    dispatcher = Dispatcher(store, MovableClock())
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    registration = ApplicationRegistered.model_validate(registered("BAK-NAS"))
    number = registration.application_number
    assert (await dispatcher.register(registration, None)).log["outcome"] == "assigned"
    stored = await store.work_order(number)
    assert stored is not None
    assigned = {
        "application_number": number,
        **{k: stored[k] for k in ("work_order_id", "team_id")},
    }
    closing = read_command(ReportOutcome, report(assigned))
    assert (await dispatcher.report(closing, "m-1", "guest")).log["outcome"] == "accepted"
    assert await marked(counted_db) == 1

    assert (await dispatcher.register(registration, None)).log["outcome"] == "duplicate"
    assert store._settling is not None
    assert store._settling._runner is not None
    store._settling._runner.cancel()  # and the process dies before the mark is taken off

    restarted = MongoDispatcherStore(counted_db)
    assert await Dispatcher(restarted, MovableClock()).settle_pending() == 1
    stock = await level(restarted, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 1, 2)
