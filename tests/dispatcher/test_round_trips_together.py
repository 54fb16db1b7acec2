"""Concurrent dispatches and reports share their round trips: the reads of their teams'
days go as one ``find`` (``shared.batching.Coalescing``), and the meters they take or
consume and the team days they count, document by document, as one conditional write each
(``shared.batching.AllOrEach``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import Commands, given, level, team

pytestmark = pytest.mark.store


async def test_concurrent_reads_of_team_days_are_one_round_trip(
    counted_db: Any, commands: Commands
) -> None:
    store = MongoDispatcherStore(counted_db)
    teams = [team(f"T-0{n}", f"D-0{n}", capacity=50) for n in range(1, 5)]
    for n, a_team in enumerate(teams):
        assert await store.claim(a_team, "2026-11-26", f"SQ-2026-00000{n}")
    with commands.counting():
        loads = await asyncio.gather(
            *(store.team_loads("2026-11-26", [t.team_id]) for t in teams * 5)
        )
    # Made in the same turn of the event loop, the 20 reads go out as one find.
    assert commands.count == 1
    assert loads == [{t.team_id: [f"SQ-2026-00000{teams.index(t)}"]} for t in teams * 5]

    with commands.counting():
        assert await store.team_loads("2026-11-26", ["T-01"]) == {"T-01": ["SQ-2026-000000"]}
    assert commands.count == 1, "alone, a read is one find as before"


async def test_concurrent_reservations_claims_and_consumptions_are_one_write_each_after_the_first(
    counted_db: Any, commands: Commands
) -> None:
    store = MongoDispatcherStore(counted_db)
    await given(store, stock={"BAK-NAS": 30})
    numbers = [f"SQ-2026-{index:06d}" for index in range(10)]
    five = team("T-01", "BAK-NAS", capacity=10)

    async def queued(calls: list[Any]) -> list[Any]:
        # As concurrent messages make them: behind one already under way.
        first = asyncio.create_task(calls[0])
        await asyncio.sleep(0)
        return await asyncio.gather(first, *calls[1:])

    with commands.counting():
        assert await queued([store.reserve("BAK-NAS", n) for n in numbers]) == [True] * 10
    assert commands.count == 2
    with commands.counting():
        assert await queued([store.claim(five, "2026-11-26", n) for n in numbers]) == [True] * 10
    # The day's first claim finds no document to count on (a write that matches nothing),
    # reads and creates it (two more); the nine behind it are one write.
    assert commands.count == 4
    with commands.counting():
        assert await queued([store.consume("BAK-NAS", n) for n in numbers]) == [True] * 10
    assert commands.count == 2

    found = await level(store, "BAK-NAS")
    assert (found.reserved, found.consumed, found.available) == (0, 10, 20)
    assert await store.team_loads("2026-11-26", ["T-01"]) == {"T-01": numbers}
