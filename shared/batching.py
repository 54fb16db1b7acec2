"""Writes of one kind that arrive together, sent to the database as one command.

``Coalescing`` takes one item per call and answers each call with its own result. The
first call goes out at once, alone; the calls made while a batch is under way wait for it
and then go out together as the next batch. An idle service therefore pays no wait,
and a busy one pays one round trip per batch instead of one per write (docs/performance.md).
With ``linger`` > 0 a batch waits that long before it goes, so writes whose callers can
wait (an event acknowledged a little later) go together even at a low rate.
A batch that fails fails every call in it; each caller handles that as it handles a
failed write of its own (retries it, or leaves the message to be retried). An item whose
caller stopped waiting before its batch went (cancelled) is left out of it.

``AllOrEach`` is for conditional writes of one document per call (take a meter from a
district's stock, count a work order against a team's day): the calls queued together for
one document go as one write that does all or none of them, and each alone where it did
none.

``Deferred`` is for writes nobody waits for, whose loss only costs doing them again later
(a mark to take off that housekeeping also finds): each ``add`` returns at once, and every
item added within ``wait`` seconds goes out in one ``send``. A send that fails is logged
and dropped; ``queued`` tells the housekeeping what is on its way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

Item = TypeVar("Item")
Result = TypeVar("Result")

# The most items one batch takes; the rest go in the next one.
LIMIT = 256
# How long a batch of writes that nobody waits on gathers before it goes (the notifier's
# finished jobs and wake-ups): each a little later, fewer round trips at a low rate
# (docs/performance.md).
LINGER = 0.02

log = structlog.get_logger("meter.batching")


class Coalescing(Generic[Item, Result]):
    """``await coalescing(item)``: ``send(items)`` for this and the items that queue with
    it; ``send`` answers a result (or an exception to raise) per item, in order. Each batch
    goes ``linger`` seconds after its first item (at once when 0)."""

    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
        limit: int = LIMIT,
        *,
        linger: float = 0.0,
    ) -> None:
        self._send = send
        self._limit = limit
        self.linger = linger
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
                if self.linger > 0:
                    try:
                        await asyncio.sleep(self.linger)
                    except asyncio.CancelledError:  # the service stops: so do its callers
                        for _, future in self._queue:
                            future.cancel()
                        self._queue.clear()
                        raise
                # A caller that stopped waiting (cancelled: its message is retried, or the
                # service stops) does not have its item written: it could not know it was.
                self._queue = [entry for entry in self._queue if not entry[1].done()]
                batch = self._queue[: self._limit]
                del self._queue[: self._limit]
                if not batch:
                    continue
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


class Deferred(Generic[Item]):
    """``add(item)``: ``send`` it, with every item added within ``wait`` seconds, later."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[object]], wait: float) -> None:
        self._send = send
        self.wait = wait
        self._pending: list[Item] = []
        self._sending: list[Item] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0  # how many were sent (for tests and the log)

    @property
    def queued(self) -> set[Item]:
        """The items added and not yet written (waiting, or in the batch being sent)."""
        return {*self._pending, *self._sending}

    def add(self, item: Item) -> None:
        self._pending.append(item)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._send_soon())

    async def _send_soon(self) -> None:
        # Until nothing is pending: items added while a batch is sent go in the next one.
        while self._pending:
            await asyncio.sleep(self.wait)
            await self.flush()

    async def flush(self) -> None:
        """Send what is pending now (in batches of at most ``LIMIT``)."""
        while self._pending:
            self._sending = self._pending[:LIMIT]
            del self._pending[:LIMIT]
            self.batches += 1
            try:
                await self._send(list(self._sending))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "deferred writes failed; left to housekeeping", items=len(self._sending)
                )
            finally:
                self._sending = []


Key = TypeVar("Key")


class AllOrEach(Generic[Key, Item]):
    """``await writes(key, item)``: what ``one(key, item)`` answers, for conditional writes
    that each change one document (``key``) on behalf of one item.

    Calls queued together (``Coalescing``) for one key with distinct items are tried as one
    ``together(key, items)``: a single conditional write that does all of them or none and
    says which (True: every call is answered True). Where it did none, or a key's items
    repeat, each goes through ``one``, all at once, as they would have gone without the
    others. Keys go concurrently; a failure fails the calls it was for and no other.
    """

    def __init__(
        self,
        one: Callable[[Key, Item], Awaitable[bool]],
        together: Callable[[Key, list[Item]], Awaitable[bool]],
        limit: int = LIMIT,
    ) -> None:
        self._one = one
        self._together = together
        self._coalescing: Coalescing[tuple[Key, Item], bool] = Coalescing(self._send, limit)

    async def __call__(self, key: Key, item: Item) -> bool:
        return await self._coalescing((key, item))

    @property
    def batches(self) -> int:
        return self._coalescing.batches

    async def _send(self, asks: list[tuple[Key, Item]]) -> list[bool | BaseException]:
        results: list[bool | BaseException] = [False] * len(asks)
        groups: dict[Key, list[int]] = {}
        for index, (key, _) in enumerate(asks):
            groups.setdefault(key, []).append(index)

        async def settle(key: Key, indexes: list[int]) -> None:
            items = [asks[index][1] for index in indexes]
            if len(items) > 1 and len(set(items)) == len(items):
                try:
                    done = await self._together(key, items)
                except Exception as exc:  # each of its callers learns of it
                    for index in indexes:
                        results[index] = exc
                    return
                if done:
                    for index in indexes:
                        results[index] = True
                    return
            # Concurrently, as the calls would have gone without the others: a document
            # that refuses them all (a district out of stock) answers them in one round.
            await asyncio.gather(*(alone(index) for index in indexes))

        async def alone(index: int) -> None:
            try:
                results[index] = await self._one(*asks[index])
            except Exception as exc:  # its caller learns of it
                results[index] = exc

        await asyncio.gather(*(settle(key, indexes) for key, indexes in groups.items()))
        return results
