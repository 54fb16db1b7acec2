"""The check every test ends with (``tests/conftest.py``): tasks of ours left running are
cancelled, and one that will not stop is named."""

from __future__ import annotations

import asyncio

from tests.conftest import cancel_left


async def test_a_task_left_running_is_cancelled_and_not_named() -> None:
    before = asyncio.all_tasks()
    left = asyncio.create_task(asyncio.Event().wait())  # a library's coroutine: not ours
    sleeper = asyncio.create_task(_sleep_long())

    assert await cancel_left(before, wait=1.0) == []
    assert sleeper.cancelled()
    assert not left.done()  # only this repository's coroutines are looked after
    left.cancel()


async def test_a_task_that_loses_its_cancellation_is_named() -> None:
    before = asyncio.all_tasks()
    stop = asyncio.Event()
    stubborn = asyncio.create_task(_ignore_cancellation(stop))
    await asyncio.sleep(0)

    stuck = await cancel_left(before, wait=0.2)

    assert len(stuck) == 1
    assert "_ignore_cancellation" in stuck[0]
    stop.set()
    await stubborn


async def _sleep_long() -> None:
    await asyncio.sleep(60)


async def _ignore_cancellation(stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await stop.wait()
        except asyncio.CancelledError:
            continue
