"""Writes that arrive together go out together: the first at once, the ones queued behind
it as one batch; every caller gets its own answer, or its own failure."""

from __future__ import annotations

import asyncio

import pytest

from shared.batching import Coalescing


class Recorder:
    """A ``send`` that keeps every batch and waits for ``release`` before it answers."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def send(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(items)
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [ValueError(f"odd {item}") if item % 2 else item * 10 for item in items]


async def test_an_idle_call_goes_alone_and_the_calls_behind_it_go_as_one_batch() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescing = Coalescing(recorder.send)
    first = asyncio.create_task(coalescing(0))
    await asyncio.sleep(0)
    behind = [asyncio.create_task(coalescing(item)) for item in (2, 4, 6)]
    await asyncio.sleep(0)
    recorder.release.set()

    assert await first == 0
    assert await asyncio.gather(*behind) == [20, 40, 60]
    assert recorder.batches == [[0], [2, 4, 6]]
    assert coalescing.batches == 2


async def test_each_caller_gets_its_own_result_or_its_own_error() -> None:
    recorder = Recorder()
    coalescing = Coalescing(recorder.send)
    results = await asyncio.gather(*(coalescing(item) for item in range(4)), return_exceptions=True)
    assert results[0] == 0
    assert results[2] == 20
    assert [str(results[1]), str(results[3])] == ["odd 1", "odd 3"]


async def test_a_failed_batch_fails_every_caller_in_it_and_the_next_batch_still_goes() -> None:
    recorder = Recorder()
    coalescing = Coalescing(recorder.send)
    recorder.fail = ConnectionError("database unreachable")
    results = await asyncio.gather(*(coalescing(item) for item in (0, 2)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)

    recorder.fail = None
    assert await coalescing(4) == 40


async def test_a_batch_takes_at_most_its_limit() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescing = Coalescing(recorder.send, limit=2)
    calls = [asyncio.create_task(coalescing(item)) for item in (0, 2, 4, 6, 8)]
    await asyncio.sleep(0)
    recorder.release.set()
    assert await asyncio.gather(*calls) == [0, 20, 40, 60, 80]
    assert [len(batch) for batch in recorder.batches] == [2, 2, 1]


async def test_a_caller_that_stops_waiting_leaves_the_others_their_answers() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescing = Coalescing(recorder.send)
    impatient = asyncio.create_task(coalescing(0))
    patient = asyncio.create_task(coalescing(2))
    await asyncio.sleep(0)
    impatient.cancel()
    recorder.release.set()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert await patient == 20


async def test_an_item_whose_caller_stopped_waiting_before_its_batch_went_is_not_sent() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescing = Coalescing(recorder.send)
    first = asyncio.create_task(coalescing(0))
    await asyncio.sleep(0)
    gone = asyncio.create_task(coalescing(2))
    kept = asyncio.create_task(coalescing(4))
    alone_gone = asyncio.create_task(coalescing(6))
    await asyncio.sleep(0)
    gone.cancel()
    alone_gone.cancel()
    recorder.release.set()
    assert await first == 0
    assert await kept == 40
    for task in (gone, alone_gone):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert recorder.batches == [[0], [4]]


async def test_a_batch_whose_callers_all_stopped_waiting_is_not_sent() -> None:
    recorder = Recorder()
    recorder.release.clear()
    coalescing = Coalescing(recorder.send)
    first = asyncio.create_task(coalescing(0))
    await asyncio.sleep(0)
    gone = [asyncio.create_task(coalescing(item)) for item in (2, 4)]
    await asyncio.sleep(0)
    for task in gone:
        task.cancel()
    recorder.release.set()
    assert await first == 0
    await asyncio.gather(*gone, return_exceptions=True)
    assert recorder.batches == [[0]]
    assert coalescing.batches == 1
    assert await coalescing(8) == 80  # and the next call goes as usual


async def test_a_send_answering_the_wrong_number_of_results_fails_its_callers() -> None:
    async def short(items: list[int]) -> list[int | BaseException]:
        return items[:-1]

    coalescing = Coalescing(short)
    with pytest.raises(RuntimeError, match="1 results for 2 items"):
        await asyncio.gather(coalescing(1), coalescing(2))


async def test_a_lingering_batch_waits_for_the_calls_that_come_within_its_linger() -> None:
    recorder = Recorder()
    coalescing = Coalescing(recorder.send, linger=0.05)
    first = asyncio.create_task(coalescing(0))
    await asyncio.sleep(0.01)
    assert recorder.batches == []  # not sent yet
    later = asyncio.create_task(coalescing(2))
    assert await asyncio.gather(first, later) == [0, 20]
    assert recorder.batches == [[0, 2]]
    assert await coalescing(4) == 40  # the next batch lingers too, then goes alone
    assert recorder.batches == [[0, 2], [4]]


async def test_a_lingering_batch_cancels_its_callers_when_the_service_stops() -> None:
    recorder = Recorder()
    coalescing = Coalescing(recorder.send, linger=10)
    waiting = asyncio.create_task(coalescing(0))
    await asyncio.sleep(0.01)
    runner = coalescing._runner
    assert runner is not None
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert recorder.batches == []
