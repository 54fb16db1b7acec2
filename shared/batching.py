"""Writes of one kind that arrive together, sent to the database as one command.

``Coalescing`` takes one item per call and answers each call with its own result. The
first call goes out at once, alone; the calls made while a batch is under way wait for it
and then go out together as the next batch. An idle service therefore pays no wait,
and a busy one pays one round trip per batch instead of one per write (docs/performance.md).
A batch that fails fails every call in it; each caller handles that as it handles a
failed write of its own (retries it, or leaves the message to be retried).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# The most items one batch takes; the rest go in the next one.
LIMIT = 256


class Coalescing(Generic[Item, Result]):
    """``await coalescing(item)``: ``send(items)`` for this and the items that queue with
    it; ``send`` answers a result (or an exception to raise) per item, in order."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        limit: int = LIMIT,
    ) -> None:
        self._send = send
        self._limit = limit
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0  # how many were sent (for tests and the log)

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._limit]
                del self._queue[: self._limit]
                self.batches += 1
                try:
                    results = await self._send([item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for {len(batch)} items")
                except asyncio.CancelledError:  # the service stops: so do its callers
                    for _, future in batch + self._queue:
                        future.cancel()
                    self._queue.clear()
                    raise
                except Exception as exc:  # every caller learns of the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller stopped waiting (a time-out)
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._runner = None
