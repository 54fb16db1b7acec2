"""What a crash leaves half done is finished by the running service, never leaked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import given, level

pytestmark = pytest.mark.broker


def closed_work_order(number: str, stock_pending: str) -> dict[str, Any]:
    """A work order closed by a report whose stock change a crash interrupted."""
    return {
        "_id": number,
        "work_order_id": "WO-" + number.removeprefix("SQ-"),
        "district_code": "BAK-NAS",
        "status": "completed",
        "meter_reserved": True,
        "team_id": "T-01",
        "sequence": 4,
        "stock_pending": stock_pending,
        "created_at": "2026-11-26T06:00:00.000Z",
        "version": 3,
    }


@pytest.mark.parametrize(
    ("pending", "consumed", "available"), [("consume", 1, 2), ("release", 0, 3)]
)
async def test_a_stock_change_interrupted_by_a_crash_is_finished_by_housekeeping(
    pending: str,
    consumed: int,
    available: int,
    store: MongoDispatcherStore,
    dispatcher_db: Any,
    run_app: Any,
    dispatcher: Any,
) -> None:
    await given(store, stock={"BAK-NAS": 3})
    assert await store.reserve("BAK-NAS", "SQ-2026-900001")
    await dispatcher_db["work_orders"].insert_one(closed_work_order("SQ-2026-900001", pending))

    for _ in range(100):
        stored = await store.work_order("SQ-2026-900001")
        if stored is not None and "stock_pending" not in stored:
            break
        await asyncio.sleep(0.05)

    assert stored is not None
    assert "stock_pending" not in stored
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, consumed, available)
    await asyncio.sleep(0.5)  # later rounds change nothing more
    assert await level(store, "BAK-NAS") == stock
