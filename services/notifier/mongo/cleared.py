"""Published outcome events taken out of the jobs' outboxes in batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne

from shared.outbox import MongoOutboxDocuments


class Cleared:
    """``OutboxDocuments`` of the jobs whose published entries are removed in batches.

    A job's outbox holds one entry, its outcome, and a finished job never changes again, so
    each removal is the version-guarded one of ``MongoOutboxDocuments`` and many go in one
    ``bulk_write``. Should one not match, all of the batch take the careful way one by one.
    What is not removed yet (a crash) the relay publishes again after its minimum age.
    """

    def __init__(self, collection: Any, wait: float) -> None:
        self.documents = MongoOutboxDocuments(collection)
        self.collection = collection
        self.name = self.documents.name
        self.wait = wait
        self._pending: list[tuple[Mapping[str, Any], list[str]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        return await self.documents.left_over(older_than, limit)

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        self._pending.append((document, message_ids))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Until nothing is pending: entries added while a batch is being written go in the
        # next batch, not wait for another ``published`` (the relay would send them again).
        while self._pending:
            await asyncio.sleep(self.wait)
            with contextlib.suppress(Exception):  # left to the relay
                await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        writes = [
            UpdateOne(
                {"_id": document["_id"], "version": document["version"]},
                {"$set": {"outbox": []}, "$unset": {"outbox_since": ""}, "$inc": {"version": 1}},
            )
            for document, ids in pending
            if len(ids) == len(document.get("outbox") or []) and "version" in document
        ]
        if len(writes) == len(pending):
            result = await self.collection.bulk_write(writes, ordered=False)
            if result.matched_count == len(writes):
                return
        for document, ids in pending:  # idempotent: removes only what is still there
            await self.documents.published(document, ids)
