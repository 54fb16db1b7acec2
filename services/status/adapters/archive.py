"""The event archive: the ``status.archive`` stream, and rebuilding the read model from it.

Every event on ``meter.events`` is also kept in the ``status.archive`` stream, which the
status service declares at start-up before it consumes (and the deployed definitions
declare up front), so no event predates it. A rebuild marks the stream's end, replays it
from the first offset into a fresh store, then makes the live store hold exactly the
rebuilt documents (removing any the archive does not explain) and finally replays what
arrived meanwhile (from the first mark to a second one) into the live store: the
projection is idempotent, so overlap is harmless, and the service may keep running
throughout. No other service is asked to resend anything.

Portals are not flooded with every old view: what the rebuild re-derives (the fresh
store and the swap) stores no portal update, while the catch-up, which projects into the
live store as the service does, stores one for each view it changes, for the running
service's outbox relay to publish (``mongo.MongoRebuild``). A view the rebuild repaired
reaches the portals with its application's next change.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from services.status import domain
from services.status.domain import Fact
from services.status.store import RebuildTarget, StatusStore
from shared import failover
from shared.contracts.events import Event
from shared.contracts.reading import MalformedMessage, read_event
from shared.contracts.registry import EVENTS_EXCHANGE, Service
from shared.topology import StreamQueue, declare_streams

# Every event ever published, so the status read model can be rebuilt from scratch.
STATUS_ARCHIVE = StreamQueue("status.archive", ((EVENTS_EXCHANGE, "#"),), Service.STATUS)
MARKER_TYPE = "status.archive-mark"
BATCH = 1000


async def declare_archive(url: str) -> None:
    """Declare the archive stream and its binding (idempotent)."""
    connection = await failover.connect(url)
    async with connection:
        await declare_streams(await connection.channel(), (STATUS_ARCHIVE,))


@dataclass
class Replayed:
    events: int = 0
    skipped: int = 0  # unreadable (parked when they first arrived)
    marker_offset: int = 0


class Archive:
    """The ``status.archive`` stream, read with offsets and closed by marks."""

    def __init__(
        self, url: str, idle_timeout: float = 30.0, progress: Callable[[int], None] | None = None
    ) -> None:
        self.url, self.idle_timeout = url, idle_timeout
        self.progress = progress or (lambda count: None)

    async def __aenter__(self) -> Archive:
        self.connection = await failover.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        # Only looked up: the operator's broker user may read the archive, not declare it.
        try:
            found = await self.channel.declare_queue(STATUS_ARCHIVE.name, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            await self.connection.close()
            raise RuntimeError(
                f"{STATUS_ARCHIVE.name} does not exist yet: start the status service once "
                "(or run `meterctl topology declare`)"
            ) from None
        self.size = int(found.declaration_result.message_count or 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def mark(self) -> str:
        """Append a mark straight to the stream (nobody else sees it); its id."""
        mark_id = f"mark-{uuid.uuid4()}"
        message = aio_pika.Message(b"{}", message_id=mark_id, type=MARKER_TYPE, delivery_mode=2)
        await self.channel.default_exchange.publish(message, routing_key=STATUS_ARCHIVE.name)
        return mark_id

    async def replay(self, start: int | str, mark_id: str, store: StatusStore) -> Replayed:
        """Project every event from ``start`` up to the mark ``mark_id`` into ``store``."""
        # A channel of its own: closing it releases what was sent past the mark, whereas a
        # nack or reject (as iterators do on exit) makes the broker close the connection.
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.get_queue(STATUS_ARCHIVE.name, ensure=False)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put, arguments={"x-stream-offset": start})
        counts, batch, pending = Replayed(), defaultdict[str, list[Fact]](list), 0
        try:
            while True:
                message = await self._next(inbox)
                await message.ack()
                self.progress(1)
                if message.message_id == mark_id:
                    counts.marker_offset = _offset(message)
                    break
                if (fact := _fact(message, counts)) is not None:
                    batch[fact["application_number"]].append(fact)
                    pending += 1
                if pending >= BATCH:
                    await _record(store, batch)
                    pending = 0
            await _record(store, batch)
        finally:
            await channel.close()
        return counts

    async def _next(self, inbox: asyncio.Queue[AbstractIncomingMessage]) -> AbstractIncomingMessage:
        try:
            async with asyncio.timeout(self.idle_timeout):
                return await inbox.get()
        except TimeoutError:
            raise RuntimeError(
                f"{STATUS_ARCHIVE.name}: nothing for {self.idle_timeout}s before the mark"
            ) from None


def _offset(message: AbstractIncomingMessage) -> int:
    offset = (message.headers or {}).get("x-stream-offset")
    if not isinstance(offset, int):
        raise RuntimeError(f"{STATUS_ARCHIVE.name}: a delivery without its stream offset")
    return offset


def _fact(message: AbstractIncomingMessage, counts: Replayed) -> Fact | None:
    """The fact of one archived event; None for marks and events of no known kind."""
    if message.type == MARKER_TYPE:
        return None
    try:
        body = json.loads(message.body)
        if not isinstance(body, dict):
            return None
        event = read_event(message.routing_key or "", body)
        fact = None if event is None else domain.fact_of(cast(Event, event))
    except (ValueError, MalformedMessage):
        counts.skipped += 1
        return None
    counts.events += fact is not None
    return fact


async def _record(store: StatusStore, batch: dict[str, list[Fact]]) -> None:
    for number, found in batch.items():
        await store.record(number, found)
    batch.clear()


async def rebuild(
    url: str,
    target: RebuildTarget,
    idle_timeout: float = 30.0,
    progress: Callable[[int | None], Callable[[int], None]] | None = None,
) -> dict[str, int]:
    """Rebuild ``target``'s live read model from the archive; what it did, in numbers.

    ``progress(size)``, given the archive's approximate size, returns what to call with
    each archived message read.
    """
    await target.begin()
    async with Archive(url, idle_timeout) as archive:
        if progress is not None:
            archive.progress = progress(archive.size or None)
        first = await archive.replay("first", await archive.mark(), target.fresh)
        written, removed = await target.swap()
        late = await archive.replay(first.marker_offset + 1, await archive.mark(), target.live)
    await target.end()
    return {
        "events": first.events,
        "unreadable": first.skipped,
        "applications": written,
        "removed": removed,
        "caught_up": late.events,
    }
