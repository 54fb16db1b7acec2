"""A notifier's mark of life, and when it may take back the jobs of senders that died
(in-process, over the fake store and a manual clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifier.background import Liveness
from shared.clock import stamp
from tests.notifier.fakes import ManualClock, MemoryNotifierStore

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def liveness() -> tuple[Liveness, MemoryNotifierStore, ManualClock]:
    store, clock = MemoryNotifierStore(), ManualClock(START)
    return Liveness(store, beat=5.0, ttl=30.0, clock=clock), store, clock


async def test_each_beat_renews_the_mark_for_ttl_seconds() -> None:
    alive, store, clock = liveness()
    assert not alive.alive.is_set()
    await alive.once()
    assert alive.alive.is_set()
    assert store.alive_until == stamp(START + timedelta(seconds=30))
    clock.advance(5)
    await alive.once()
    assert store.alive_until == stamp(START + timedelta(seconds=35))


async def test_dead_senders_are_looked_for_only_after_ttl_seconds_alive_without_a_break() -> None:
    alive, store, clock = liveness()
    for _ in range(6):  # 0, 5, ... 25 s: not yet
        await alive.once()
        clock.advance(5)
    assert store.released == []
    await alive.once()  # 30 s alive
    assert store.released == [stamp(START + timedelta(seconds=30))]


async def test_a_break_in_the_beats_starts_the_wait_again() -> None:
    """After a database outage every mark has run out; a living sender must get the time
    to renew its own before anyone takes its jobs."""
    alive, store, clock = liveness()
    for _ in range(7):
        await alive.once()
        clock.advance(5)
    assert len(store.released) == 1
    store.broken = True
    assert await alive.once() == 0  # the beat failed: no error escapes, nothing released
    store.broken = False
    clock.advance(5)
    for _ in range(6):
        await alive.once()
        clock.advance(5)
    assert len(store.released) == 1
    await alive.once()
    assert len(store.released) == 2
