"""Teams and their daily capacity on MongoDB (or the embedded server): the teams read at
most once per few seconds, a claim one conditional update while the day has room, counts
that never pass the capacity however the dispatchers race, and team days written before
``taken`` existed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.dispatcher.domain.teams import Team, team_day_id
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.usecases import Dispatcher
from shared.contracts.events import ApplicationRegistered
from shared.contracts.reading import read_event
from tests.dispatcher.conftest import Commands, given, registered, team

pytestmark = pytest.mark.store
DAY = "2026-11-26"


@pytest.fixture
def store(counted_db: Any) -> MongoDispatcherStore:
    return MongoDispatcherStore(counted_db)


TEAM = Team("T-01", "Nəsimi", ("BAK-NAS",), daily_capacity=3)


async def day_of(store: MongoDispatcherStore, team: Team = TEAM) -> dict[str, Any]:
    document = await store.team_days.find_one({"_id": team_day_id(team.team_id, DAY)})
    assert document is not None
    assert document["taken"] == len(document["orders"]) == len(set(document["orders"]))
    assert len(document["orders"]) <= team.daily_capacity
    return dict(document)


async def test_a_claim_with_room_is_one_round_trip_and_a_repeat_counts_once(
    store: MongoDispatcherStore, commands: Commands
) -> None:
    assert await store.claim(TEAM, DAY, "SQ-2026-000001")  # the day's first: read, insert
    with commands.counting():
        assert await store.claim(TEAM, DAY, "SQ-2026-000002")
    assert commands.count == 1
    assert await store.claim(TEAM, DAY, "SQ-2026-000002")  # held already: still True
    assert (await day_of(store))["orders"] == ["SQ-2026-000001", "SQ-2026-000002"]


async def test_concurrent_claims_never_pass_the_capacity(store: MongoDispatcherStore) -> None:
    numbers = [f"SQ-2026-{n:06d}" for n in range(1, 9)]
    results = await asyncio.gather(*(store.claim(TEAM, DAY, n) for n in numbers * 2))

    document = await day_of(store)
    assert len(document["orders"]) == TEAM.daily_capacity
    counted = {n for n, ok in zip(numbers * 2, results, strict=True) if ok}
    assert counted == set(document["orders"])


async def test_a_team_day_without_taken_is_counted_right_and_healed(
    store: MongoDispatcherStore,
) -> None:
    key = team_day_id(TEAM.team_id, DAY)
    old = {"_id": key, "team_id": TEAM.team_id, "day": DAY, "orders": ["SQ-2026-000001"]}
    await store.team_days.insert_one({**old, "version": 1})

    assert await store.claim(TEAM, DAY, "SQ-2026-000002")
    assert (await day_of(store))["taken"] == 2
    assert await store.claim(TEAM, DAY, "SQ-2026-000003")
    assert not await store.claim(TEAM, DAY, "SQ-2026-000004")  # full
    assert await store.unclaim(TEAM.team_id, DAY, "SQ-2026-000001")
    assert (await day_of(store))["taken"] == 2


async def test_a_lowered_capacity_refuses_the_next_claim(store: MongoDispatcherStore) -> None:
    for n in (1, 2):
        assert await store.claim(TEAM, DAY, f"SQ-2026-{n:06d}")
    smaller = Team(TEAM.team_id, TEAM.name, TEAM.district_codes, daily_capacity=2)

    assert not await store.claim(smaller, DAY, "SQ-2026-000003")
    assert len((await day_of(store))["orders"]) == 2


async def test_teams_are_read_at_most_once_per_few_seconds_unless_asked_fresh(
    counted_db: Any, store: MongoDispatcherStore, commands: Commands
) -> None:
    await store.upsert_teams([TEAM])
    assert await store.teams() == [TEAM]
    other = Team("T-02", "Yasamal", ("BAK-YAS",), daily_capacity=2)
    await MongoDispatcherStore(counted_db).upsert_teams([other])  # meterctl, another process

    with commands.counting():
        assert await store.teams() == [TEAM]
    assert commands.count == 0
    assert await store.teams(fresh=True) == [TEAM, other]
    await store.upsert_teams([TEAM])  # its own import is seen at once
    with commands.counting():
        assert await store.teams() == [TEAM, other]
    assert commands.count == 1


async def test_a_team_imported_since_the_teams_were_read_takes_the_next_application(
    counted_db: Any, store: MongoDispatcherStore
) -> None:
    dispatcher = Dispatcher(store)
    await given(store, [team("T-09", "GNC-01")], {"SUM-01": 5})
    assert [t.team_id for t in await store.teams()] == ["T-09"]  # read, kept a few seconds
    await MongoDispatcherStore(counted_db).upsert_teams([team("T-04", "SUM-01")])  # meterctl

    event = read_event("application.registered", registered("SUM-01"))
    assert isinstance(event, ApplicationRegistered)
    outcome = await dispatcher.register(event, None)

    assert outcome.log["outcome"] == "assigned"
    stored = await store.work_order(event.application_number)
    assert stored is not None
    assert stored["team_id"] == "T-04"
