"""The stock document on MongoDB (or the embedded server): one conditional update per
reserve, consume and release, counts that add up however the writers race, and documents
written before ``available`` existed.

The contract both stores keep is in ``test_store_contract``; these look at the stored
document and the round trips, which only the MongoDB store has.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import Commands, level

NOON = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(counted_db: Any) -> MongoDispatcherStore:
    return MongoDispatcherStore(counted_db)


async def balanced(store: MongoDispatcherStore, district: str) -> tuple[int, int, int, int]:
    """(received, reserved, consumed, available), checked to add up, none negative, no
    number held twice and the stored ``available`` (when kept) the same count."""
    document = await store.stock.find_one({"_id": district})
    assert document is not None
    found = await level(store, district)
    counts = (found.received, found.reserved, found.consumed, found.available)
    assert min(counts) >= 0, counts
    assert found.reserved + found.consumed + found.available == found.received, counts
    reservations = document["reservations"]
    assert len(reservations) == len(set(reservations)), "a number holds at most one meter"
    if "available" in document:
        assert document["available"] == found.available, (document, counts)
    for field in ("received", "consumed", "available", "version"):
        if field in document:
            assert type(document[field]) is int, (field, document)
    return counts


async def test_reserve_consume_and_release_are_one_round_trip_each(
    store: MongoDispatcherStore, commands: Commands
) -> None:
    await store.receive("BAK-NAS", 3, "r-1", NOON)
    for number, act in (("SQ-1", store.consume), ("SQ-2", store.release)):
        with commands.counting():
            assert await store.reserve("BAK-NAS", number)
        assert commands.count == 1, f"reserve: {commands.count} round trips"
        with commands.counting():
            assert await act("BAK-NAS", number)
        assert commands.count == 1, f"{act.__name__}: {commands.count} round trips"
    assert await balanced(store, "BAK-NAS") == (3, 0, 1, 2)


async def test_a_repeated_or_refused_reserve_reads_once_to_answer(
    store: MongoDispatcherStore, commands: Commands
) -> None:
    await store.receive("BAK-NAS", 1, "r-1", NOON)
    assert await store.reserve("BAK-NAS", "SQ-1")
    with commands.counting():
        assert await store.reserve("BAK-NAS", "SQ-1"), "it holds one already"
    assert commands.count == 2
    with commands.counting():
        assert not await store.reserve("BAK-NAS", "SQ-2"), "none free"
    assert commands.count == 2
    with commands.counting():
        assert not await store.consume("BAK-NAS", "SQ-2"), "holds none"
    assert commands.count == 1
    assert await balanced(store, "BAK-NAS") == (1, 1, 0, 0)


async def test_the_same_numbers_reserved_at_once_many_times_hold_one_meter_each(
    store: MongoDispatcherStore,
) -> None:
    await store.receive("BAK-NAS", 25, "r-1", NOON)
    numbers = [f"SQ-2026-{index % 40:06d}" for index in range(160)]  # each one four times

    held = await asyncio.gather(*(store.reserve("BAK-NAS", number) for number in numbers))

    holding = {number for number, got in zip(numbers, held, strict=True) if got}
    assert len(holding) == 25
    for number in holding:  # a number that got one always got it
        assert all(got for other, got in zip(numbers, held, strict=True) if other == number)
    assert await balanced(store, "BAK-NAS") == (25, 25, 0, 0)
    document = await store.stock.find_one({"_id": "BAK-NAS"})
    assert document is not None
    assert set(document["reservations"]) == holding


async def test_consuming_and_releasing_at_once_move_each_meter_once(
    store: MongoDispatcherStore,
) -> None:
    await store.receive("BAK-NAS", 10, "r-1", NOON)
    numbers = [f"SQ-{index}" for index in range(10)]
    assert all(await asyncio.gather(*(store.reserve("BAK-NAS", n) for n in numbers)))

    consumed = await asyncio.gather(*(store.consume("BAK-NAS", n) for n in numbers[:5] * 3))
    released = await asyncio.gather(*(store.release("BAK-NAS", n) for n in numbers[5:] * 3))
    # Consuming and releasing the same numbers at once: each moves once, one way.
    both = [store.consume("BAK-NAS", n) for n in numbers] + [
        store.release("BAK-NAS", n) for n in numbers
    ]
    late = await asyncio.gather(*both)

    assert sum(consumed) == 5
    assert sum(released) == 5
    assert not any(late), "none of them holds a meter any more"
    assert await balanced(store, "BAK-NAS") == (10, 0, 5, 5)


async def test_receipts_racing_reservations_keep_the_counts_right(
    store: MongoDispatcherStore,
) -> None:
    await store.receive("GNC-01", 5, "r-0", NOON)
    numbers = [f"SQ-{index}" for index in range(60)]
    receipts = [f"r-{index % 6}" for index in range(18)]  # r-0 again, r-1..r-5 three times

    reserving = asyncio.gather(*(store.reserve("GNC-01", number) for number in numbers))
    receiving = asyncio.gather(*(store.receive("GNC-01", 5, r, NOON) for r in receipts))
    consuming = asyncio.gather(*(store.consume("GNC-01", number) for number in numbers[::3]))
    held, receipted, _ = await asyncio.gather(reserving, receiving, consuming)

    counted = [got.counted for got in receipted]
    assert sum(counted) == 5, "each new receipt counted once, the first one not again"
    received, reserved, consumed, available = await balanced(store, "GNC-01")
    assert received == 30
    assert reserved + consumed == sum(held)
    assert sum(held) <= 30
    # Whatever is free now goes to the ones that got none.
    refused = [n for n, got in zip(numbers, held, strict=True) if not got]
    again = await asyncio.gather(*(store.reserve("GNC-01", number) for number in refused))
    assert sum(again) == min(available, len(refused))
    await balanced(store, "GNC-01")


async def test_a_receipt_keeps_retrying_while_reservations_win_and_then_counts(
    store: MongoDispatcherStore,
) -> None:
    await store.receive("GNC-01", 40, "r-0", NOON)
    reserves = asyncio.gather(*(store.reserve("GNC-01", f"SQ-{index}") for index in range(40)))
    held, got = await asyncio.gather(reserves, store.receive("GNC-01", 1, "r-1", NOON))
    assert all(held)
    assert got.counted
    assert await balanced(store, "GNC-01") == (41, 40, 0, 1)


async def old_document(store: MongoDispatcherStore, **fields: Any) -> None:
    """A district's stock as written before the document kept ``available``."""
    at = (NOON - timedelta(days=1)).isoformat()
    document = {
        "_id": "SUM-01",
        "received": 5,
        "consumed": 1,
        "reservations": ["SQ-OLD-1", "SQ-OLD-2"],
        "receipts": [{"message_id": "r-old", "at": at}],
        "version": 7,
        **fields,
    }
    await store.stock.insert_one(document)


async def test_a_document_without_available_is_reserved_from_and_healed(
    store: MongoDispatcherStore,
) -> None:
    await old_document(store)
    assert await balanced(store, "SUM-01") == (5, 2, 1, 2)

    assert await store.reserve("SUM-01", "SQ-OLD-1"), "held already"
    assert await store.reserve("SUM-01", "SQ-NEW-1")

    document = await store.stock.find_one({"_id": "SUM-01"})
    assert document is not None
    assert document["available"] == 1, "written whole, with the free count"
    assert await balanced(store, "SUM-01") == (5, 3, 1, 1)
    assert await store.reserve("SUM-01", "SQ-NEW-2")  # the one conditional update now
    assert not await store.reserve("SUM-01", "SQ-NEW-3")
    assert await balanced(store, "SUM-01") == (5, 4, 1, 0)


async def test_releasing_and_consuming_on_a_document_without_available_stay_right(
    store: MongoDispatcherStore,
) -> None:
    await old_document(store)

    assert await store.release("SUM-01", "SQ-OLD-1")
    assert not await store.release("SUM-01", "SQ-OLD-1")
    assert await store.consume("SUM-01", "SQ-OLD-2")
    assert not await store.consume("SUM-01", "SQ-OLD-2")
    assert await balanced(store, "SUM-01") == (5, 0, 2, 3)

    document = await store.stock.find_one({"_id": "SUM-01"})
    assert document is not None
    assert document.get("available") == 3, "the release wrote it whole, with the free count"


async def test_racing_on_a_document_without_available_keeps_the_counts(
    store: MongoDispatcherStore,
) -> None:
    await old_document(store, consumed=0, reservations=[], received=12)
    numbers = [f"SQ-{index % 20}" for index in range(40)]

    held, *_ = await asyncio.gather(
        asyncio.gather(*(store.reserve("SUM-01", number) for number in numbers)),
        store.receive("SUM-01", 3, "r-new", NOON),
        store.receive("SUM-01", 3, "r-old", NOON),  # counted before: adds nothing
    )

    first = {n for n, got in zip(numbers, held, strict=True) if got}
    assert len(first) in range(12, 16)  # the 3 new meters may have come after some reserves
    # Asked again, the ones holding one still do and the rest take what is free.
    distinct = sorted(set(numbers))
    again = await asyncio.gather(*(store.reserve("SUM-01", n) for n in distinct))
    holding = {n for n, got in zip(distinct, again, strict=True) if got}
    assert first <= holding
    assert len(holding) == 15
    assert await balanced(store, "SUM-01") == (15, 15, 0, 0)
    document = await store.stock.find_one({"_id": "SUM-01"})
    assert document is not None
    assert document["available"] == 0
