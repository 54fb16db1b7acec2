"""Dispatches that read their teams' loads at the same time share one ``find``
(``shared.batching.Coalescing``): one database round trip instead of one each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import Commands, team

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
