"""What this status process last wrote of each application, and the published portal
updates still to take out of the read model's outboxes.

``Latest`` keeps the documents this process wrote most recently (a bounded LRU): the
next event of an application is merged into that copy instead of a fresh read, and the
write stays guarded by the copy's ``version``, so a copy another writer has made stale
(another replica, the relay, a rebuild's swap) only costs the failed write and a read.

``ReadModelOutbox`` takes published updates out of the outboxes in batches: one
``bulk_write`` for all the removals within ``wait`` seconds, each guarded by the version
this process last wrote. An update published while the next event of the same
application is being merged is simply left out of that write (``published_ids``), at no
cost. Whatever is not removed (a crash, a lost race) the relay publishes again after its
minimum age, and the portal takes the same message id again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pymongo import UpdateOne

from shared.outbox import MongoOutboxDocuments

CACHED = 4096  # documents kept per process: an application's burst of events, not its life
_DONE = {"$unset": {"outbox": "", "outbox_since": ""}}


class Latest:
    """The documents this process wrote last, by application number (at most ``size``)."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self._documents: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, number: str) -> dict[str, Any] | None:
        return self._documents.get(number)

    def keep(self, document: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        self._documents[document["_id"]] = document
        self._documents.move_to_end(document["_id"])
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def forget(self, number: str) -> None:
        self._documents.pop(number, None)

    def replace(self, written: Mapping[str, Any], new: dict[str, Any]) -> None:
        """Keep ``new`` if the copy kept is still ``written`` (the same version)."""
        kept = self._documents.get(new["_id"])
        if kept is not None and kept.get("version") == written.get("version"):
            self.keep(new)


def without_outbox(document: Mapping[str, Any], version: str) -> dict[str, Any]:
    """``document`` as it is once its outbox is emptied under the new ``version``."""
    kept = {k: v for k, v in document.items() if k not in ("outbox", "outbox_since")}
    return {**kept, "version": version}


class ReadModelOutbox(MongoOutboxDocuments):
    """The read model's outbox: its documents' ``version`` is a random token, not a count.

    Removing published entries changes the token too, so a writer that read the entries
    still pending cannot write them back; a document with nothing pending has no
    ``outbox`` field at all (as before any update), so a rebuilt document equals it.
    ``wait`` 0 removes each document's entries at once (one round trip or three).
    """

    def __init__(self, collection: Any, latest: Latest | None = None, wait: float = 0.0) -> None:
        super().__init__(collection)
        self.latest = latest if latest is not None else Latest(0)
        self.wait = wait
        self._pending: dict[str, set[str]] = {}  # number: ids published, not yet removed
        self._removing: dict[str, set[str]] = {}  # the batch being written
        self.writing: set[str] = set()  # numbers whose next version is being written now
        self._flushing: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one batch written at a time; ``flush`` waits for it

    def published_ids(self, number: str) -> set[str]:
        """The entries of ``number`` published but perhaps still stored: a write may drop them."""
        return self._pending.get(number, set()) | self._removing.get(number, set())

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        if self.wait <= 0:
            await self._remove(document, set(message_ids))
            return
        self._pending.setdefault(document["_id"], set()).update(message_ids)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        # Until nothing is pending: removals queued while a batch is written go in the next.
        while self._pending:
            await asyncio.sleep(self.wait)
            with contextlib.suppress(Exception):  # left to the relay
                await self.flush()

    async def flush(self) -> None:
        """Take every queued published entry out of its document now, after the batch being
        written (if one is): when it returns, nothing queued before is still on its way."""
        async with self._writing:
            pending, self._pending = self._pending, {}
            self._removing = pending
            try:
                await self._remove_all(pending)
            finally:
                self._removing = {}

    async def _remove_all(self, pending: dict[str, set[str]]) -> None:
        batch: list[tuple[dict[str, Any], str]] = []
        careful: list[tuple[str, set[str]]] = []
        for number, ids in pending.items():
            if number in self.writing:  # that write leaves them out; see them after it
                self._pending.setdefault(number, set()).update(ids)
                continue
            latest = self.latest.get(number)
            stored = {e["message_id"] for e in (latest or {}).get("outbox") or []}
            if latest is not None and not stored & ids:
                continue  # a later write of ours left them out already
            if latest is not None and stored <= ids:
                batch.append((latest, uuid.uuid4().hex))
            else:
                careful.append((number, ids))
        if batch:
            writes = [
                UpdateOne(
                    {"_id": document["_id"], "version": document["version"]},
                    {**_DONE, "$set": {"version": token}},
                )
                for document, token in batch
            ]
            result = await self.collection.bulk_write(writes, ordered=False)
            if result.matched_count == len(writes):
                for document, token in batch:
                    self.latest.replace(document, without_outbox(document, token))
            else:  # some were written meanwhile: which ones is not known, so each alone
                careful += [(d["_id"], pending[d["_id"]]) for d, _ in batch]
        if careful:  # which are still stored is not known: pull them by id, all at once
            for number, _ in careful:
                self.latest.forget(number)
            await self._pull(dict(careful))

    async def _pull(self, gone: dict[str, set[str]]) -> None:
        pulls = [
            UpdateOne(
                {"_id": number},
                {
                    "$pull": {"outbox": {"message_id": {"$in": sorted(ids)}}},
                    "$set": {"version": uuid.uuid4().hex},
                },
            )
            for number, ids in gone.items()
        ]
        await self.collection.bulk_write(pulls, ordered=False)
        emptied = [
            UpdateOne(
                {"_id": number, "outbox": {"$size": 0}},
                {**_DONE, "$set": {"version": uuid.uuid4().hex}},
            )
            for number in gone
        ]
        await self.collection.bulk_write(emptied, ordered=False)

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        # The relay leaves alone what is queued here: it would publish it again.
        busy = {*self._pending, *self._removing}
        found = await super().left_over(older_than, limit)
        return [document for document in found if document["_id"] not in busy]

    async def _remove(self, document: Mapping[str, Any], ids: set[str]) -> None:
        number = document["_id"]
        if "version" in document and len(ids) == len(document.get("outbox") or []):
            # Common case, one round trip: nothing was appended since the document was read.
            token = uuid.uuid4().hex
            result = await self.collection.update_one(
                {"_id": number, "version": document["version"]},
                {**_DONE, "$set": {"version": token}},
            )
            if result.modified_count:
                self.latest.replace(document, without_outbox(document, token))
                return
        self.latest.forget(number)
        await self._pull({number: ids})
