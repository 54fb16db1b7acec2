"""Rebuilding the read model from scratch out of the event archive, asking nobody to resend.

Every event on ``meter.events`` is also kept in the ``status.archive`` stream. A rebuild
marks the stream's end, replays it from the first offset into a fresh collection, then
replaces the live documents with the rebuilt ones (removing any the archive does not
explain) and finally replays what arrived meanwhile (from the first mark to a second one)
into the live collection: the projection is idempotent, so overlap is harmless, and the
service may keep running throughout.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import aio_pika

from services.status import facts
from services.status.facts import Fact
from services.status.store import MongoStatusStore
from shared.topology import STATUS_ARCHIVE, STREAM_QUEUES, declare_streams

MARKER_TYPE = "status.archive-mark"
BATCH = 1000
LIVE_COLLECTION = "applications"
FRESH_COLLECTION = "applications_rebuild"


@dataclass
class Replayed:
    events: int = 0
    skipped: int = 0  # unreadable (parked when they first arrived)
    marker_offset: int = 0


async def declare_archive(url: str) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_streams(await connection.channel(), STREAM_QUEUES)


class Archive:
    """The ``status.archive`` stream, read with offsets and closed by marks."""

    def __init__(self, url: str, idle_timeout: float = 30.0) -> None:
        self.url, self.idle_timeout = url, idle_timeout

    async def __aenter__(self) -> Archive:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        await declare_streams(self.channel, STREAM_QUEUES)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def mark(self) -> str:
        """Append a mark straight to the stream (nobody else sees it); its id."""
        mark_id = f"mark-{uuid.uuid4()}"
        message = aio_pika.Message(b"{}", message_id=mark_id, type=MARKER_TYPE, delivery_mode=2)
        await self.channel.default_exchange.publish(message, routing_key=STATUS_ARCHIVE.name)
        return mark_id

    async def replay(self, start: int | str, mark_id: str, store: MongoStatusStore) -> Replayed:
        """Project every event from ``start`` up to the mark ``mark_id`` into ``store``."""
        # A channel of its own: closing it releases what was sent past the mark, whereas a
        # nack or reject (as iterators do on exit) makes the broker close the connection.
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=BATCH)
        queue = await channel.get_queue(STATUS_ARCHIVE.name, ensure=False)
        inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put, arguments={"x-stream-offset": start})
        counts, batch, pending = Replayed(), defaultdict[str, list[Fact]](list), 0
        try:
            while True:
                message = await self._next(inbox)
                await message.ack()
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

    async def _next(
        self, inbox: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage]
    ) -> aio_pika.abc.AbstractIncomingMessage:
        try:
            return await asyncio.wait_for(inbox.get(), self.idle_timeout)
        except TimeoutError:
            raise RuntimeError(
                f"{STATUS_ARCHIVE.name}: nothing for {self.idle_timeout}s before the mark"
            ) from None


def _offset(message: aio_pika.abc.AbstractIncomingMessage) -> int:
    offset = (message.headers or {}).get("x-stream-offset")
    if not isinstance(offset, int):
        raise RuntimeError(f"{STATUS_ARCHIVE.name}: a delivery without its stream offset")
    return offset


def _fact(message: aio_pika.abc.AbstractIncomingMessage, counts: Replayed) -> Fact | None:
    if message.type == MARKER_TYPE:
        return None
    try:
        body = json.loads(message.body)
        fact = facts.fact_from(message.routing_key or "", body) if isinstance(body, dict) else None
    except (ValueError, facts.UnreadableEvent):
        counts.skipped += 1
        return None
    counts.events += fact is not None
    return fact


async def _record(store: MongoStatusStore, batch: dict[str, list[Fact]]) -> None:
    for number, found in batch.items():
        await store.record(number, found)
    batch.clear()


async def replace_documents(source: Any, target: Any) -> tuple[int, int]:
    """Make ``target`` hold exactly ``source``'s documents; (written, removed)."""
    kept: set[str] = set()
    async for document in source.find({}):
        document["version"] = uuid.uuid4().hex
        await target.replace_one({"_id": document["_id"]}, document, upsert=True)
        kept.add(document["_id"])
    stale = [found["_id"] async for found in target.find({}, {"_id": 1})]
    stale = [number for number in stale if number not in kept]
    for start in range(0, len(stale), BATCH):
        await target.delete_many({"_id": {"$in": stale[start : start + BATCH]}})
    return len(kept), len(stale)


async def rebuild(url: str, db: Any, idle_timeout: float = 30.0) -> dict[str, int]:
    """Rebuild ``db``'s read model from the archive; what it did, in numbers."""
    live = MongoStatusStore(db[LIVE_COLLECTION])
    fresh = MongoStatusStore(db[FRESH_COLLECTION])
    await fresh.applications.drop()
    await fresh.ensure_indexes()
    await live.ensure_indexes()
    async with Archive(url, idle_timeout) as archive:
        first = await archive.replay("first", await archive.mark(), fresh)
        written, removed = await replace_documents(fresh.applications, live.applications)
        late = await archive.replay(first.marker_offset + 1, await archive.mark(), live)
    await fresh.applications.drop()
    return {
        "events": first.events,
        "unreadable": first.skipped,
        "applications": written,
        "removed": removed,
        "caught_up": late.events,
    }
