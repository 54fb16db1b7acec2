"""Status's MongoDB adapter: the read model, one document per application, written whole.

Each write merges the new facts (``domain.merged``) into the document (the copy this
process wrote last, else a fresh read) and writes the result back guarded by the
``version`` it started from (a fresh random token per write), retrying from a read when
another writer got there first; the first write of an application inserts it. Events of
one application that arrive while its write is under way go out in its next write, all
of them in one; writes to different applications made while an earlier one is under way
go out together as one bulk write (``shared.batching``). When the view changes, the same
write puts the portal update in the document's outbox (``shared.outbox``), which is
published right after the write or by the relay.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne
from pymongo.errors import BulkWriteError, WriteError

from services.status import domain
from services.status.domain import Fact
from services.status.mongo.written import CACHED, Latest, ReadModelOutbox
from services.status.store import ConcurrentWrites
from shared.batching import Coalescing
from shared.contracts.portal import ApplicationUpdated
from shared.contracts.replies import ApplicationSummary, ApplicationView
from shared.documents import ActCopy
from shared.mongo import Lookup, insert_new
from shared.outbox import Outbox, message_entry, with_outbox

MAX_ATTEMPTS = 50
LIVE_COLLECTION = "applications"
FRESH_COLLECTION = "applications_rebuild"
BATCH = 1000
# What a rebuild's swap sets on a live document; its outbox (pending updates) stays.
_DERIVED = ("received", "view", "applicant_fin", "submitted_key")


class MongoStatusStore:
    """The read model; with an ``outbox``, every change of a view is pushed to the portals.

    ``updates`` (default: whether there is an outbox) stores the updates in the outbox;
    without an outbox to publish them now, the running service's relay does. ``cached``
    documents are kept to save reads (``written.Latest``); ``clear_wait`` > 0 takes
    published updates out of the outboxes in batches (``written.ReadModelOutbox``).
    """

    def __init__(
        self,
        collection: Any,
        outbox: Outbox | None = None,
        *,
        updates: bool | None = None,
        cached: int = CACHED,
        clear_wait: float = 0.0,
    ) -> None:
        self.applications = collection
        self.outbox = outbox
        self.updates = outbox is not None if updates is None else updates
        self.latest = Latest(cached)
        self._turns: dict[str, _Turn] = {}
        self.documents = ReadModelOutbox(collection, self.latest, clear_wait)
        # No linger here: held open to fill, batches of whole views made every other
        # service's database answers slower on the embedded server (docs/performance.md).
        self.replacing = Coalescing(self._replace_all)
        self.inserting = Coalescing(partial(insert_new, collection))
        self._read = Lookup(collection)
        if outbox is not None:
            outbox.watch(self.documents)

    async def ensure_indexes(self) -> None:
        await self.applications.create_index(
            [("applicant_fin", ASCENDING), ("submitted_key", DESCENDING)]
        )
        await self.documents.ensure_index()

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        """Merge ``facts`` into the application's document; False when nothing was new.

        The document this process wrote last stands in for a read (``written.Latest``):
        one round trip per event in the common case, and an application it holds no copy
        of is inserted before it is looked for. A stale copy fails its guarded write,
        is forgotten, and the next attempt reads. Events of one application that arrive
        while its write is under way in this process (an e-mail's and an SMS's outcome,
        ``forwarded`` and ``assigned``) go out together in its next write, each answered
        whether it was new: one write for them all, and the portals get the view they make
        together (its timeline holds every step).
        """
        turn = self._turns.get(number)
        if turn is None:
            turn = self._turns[number] = _Turn(Coalescing(partial(self._record_all, number)))
        turn.users += 1
        try:
            return await turn.writes(facts)
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[number]

    async def _record_all(self, number: str, batches: list[Sequence[Fact]]) -> list[bool]:
        """The facts of each batch, in their order, in one write; whether each was new."""
        # An application this process holds no copy of is most likely new: its insert is
        # tried first, and only when the application exists is it read.
        unread = self.latest.get(number) is None
        for _ in range(MAX_ATTEMPTS):
            held = self.latest.get(number)
            if held is None and not unread:
                held = await self._read(number)
            received = held["received"] if held else {}
            new_facts: list[bool] = []
            for facts in batches:
                merged = domain.merged(received, facts)
                new_facts.append(merged is not None)
                received = received if merged is None else merged
            if not any(new_facts):
                if held is None and unread:  # nothing new even to nothing: look first
                    unread = False
                    continue
                return new_facts
            new = self._next(number, held, received)
            if not await self._write(held, new):
                self.latest.forget(number)
                unread = False
                continue
            self.latest.keep(new)
            if self.outbox is not None:
                await self.outbox.publish_or_leave(self.documents, new)
            return new_facts
        raise ConcurrentWrites(f"{number}: {MAX_ATTEMPTS} writes lost to concurrent ones")

    async def _write(self, held: dict[str, Any] | None, new: dict[str, Any]) -> bool:
        """Insert ``new``, or replace ``held`` with it; False when another write won."""
        self.documents.writing.add(new["_id"])
        try:
            if held is None:  # 0 when another writer inserted it first
                return bool(await self.inserting([new]))
            return await self.replacing((held["version"], new))
        finally:
            self.documents.writing.discard(new["_id"])

    async def _replace_all(
        self, writes: list[tuple[str, dict[str, Any]]]
    ) -> list[bool | BaseException]:
        """Each write's document in place of the one of the version it names; whether it won.

        One write is one ``replace_one``. Several (events of different applications handled
        together) are one bulk write; when some lost, or the bulk failed part-way, one read
        of their versions tells which went through.
        """
        if len(writes) == 1:
            version, new = writes[0]
            result = await self.applications.replace_one(
                {"_id": new["_id"], "version": version}, new
            )
            return [bool(result.matched_count)]
        requests = [
            ReplaceOne({"_id": new["_id"], "version": version}, new) for version, new in writes
        ]
        failed: dict[int, BaseException] = {}
        try:
            result = await self.applications.bulk_write(requests, ordered=False)
            if result.matched_count == len(writes):
                return [True] * len(writes)
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                failed[int(error["index"])] = WriteError(
                    error.get("errmsg", ""), error.get("code"), error
                )
        ids = [new["_id"] for _, new in writes]
        cursor = self.applications.find({"_id": {"$in": ids}}, {"version": 1})
        stored = {found["_id"]: found.get("version") async for found in cursor}
        return [
            stored.get(new["_id"]) == new["version"] or failed.get(index, False)
            for index, (_, new) in enumerate(writes)
        ]

    def _next(self, number: str, held: dict[str, Any] | None, received: Any) -> dict[str, Any]:
        """The document to write: the new facts and view, and the outbox it carries on
        (without the updates published already)."""
        new = {**domain.document(number, received), "version": uuid.uuid4().hex}
        update = domain.portal_update(held, new) if self.updates else None
        sent = self.documents.published_ids(number)
        pending = [e for e in (held or {}).get("outbox") or [] if e["message_id"] not in sent]
        if update is not None:
            # The new view supersedes an older one still waiting: portals want the state.
            pending = [entry for entry in pending if entry["message_type"] != update.message_type]
        if pending:
            new |= {"outbox": pending, "outbox_since": (held or {}).get("outbox_since")}
        return with_outbox(new, [] if update is None else [update_entry(update)])

    async def aclose(self) -> None:
        """Take out the published updates still queued for removal (shutdown)."""
        await self.documents.flush()

    async def own_application(self, applicant_fin: str, number: str) -> ApplicationView | None:
        found = await self.applications.find_one(
            {"_id": number, "applicant_fin": applicant_fin}, {"view": 1}
        )
        return None if found is None or found.get("view") is None else domain.shown(found["view"])

    async def own_applications(self, applicant_fin: str) -> list[ApplicationSummary]:
        cursor = self.applications.find({"applicant_fin": applicant_fin}, {"view": 1}).sort(
            [("submitted_key", DESCENDING), ("_id", DESCENDING)]
        )
        return [domain.listed(found["view"]) async for found in cursor if found.get("view")]

    async def own_act(self, applicant_fin: str, number: str) -> ActCopy | None:
        found = await self.applications.find_one(
            {"_id": number, "applicant_fin": applicant_fin}, {"view": 1, "received": 1}
        )
        return None if found is None else domain.act_copy(found)


@dataclass
class _Turn:
    """The writes of one application in this process: one under way at a time, the facts
    that arrive meanwhile all in the next."""

    writes: Coalescing[Sequence[Fact], bool]
    users: int = 0


def update_entry(update: ApplicationUpdated) -> dict[str, Any]:
    """The outbox entry of a portal update (``meter.portal``, ``<channel>.application_updated``)."""
    return message_entry(update.exchange, update.routing_key, update.message_type, update.body())


class MongoRebuild:
    """The live read model and a fresh one beside it, in the same database.

    A rebuild must not flood the portals with every old view: the fresh store stores no
    updates, and the swap keeps whatever was pending. Only the catch-up after the swap,
    which projects into the live store like the service, stores an update for a view it
    changes; the running service's relay publishes it (or, if it is stopped, once it runs).
    """

    def __init__(self, db: Any) -> None:
        self._live = MongoStatusStore(db[LIVE_COLLECTION], updates=True)
        self._fresh = MongoStatusStore(db[FRESH_COLLECTION])

    @property
    def live(self) -> MongoStatusStore:
        return self._live

    @property
    def fresh(self) -> MongoStatusStore:
        return self._fresh

    async def begin(self) -> None:
        await self._fresh.applications.drop()
        await self._fresh.ensure_indexes()
        await self._live.ensure_indexes()

    async def swap(self) -> tuple[int, int]:
        return await replace_documents(self._fresh.applications, self._live.applications)

    async def end(self) -> None:
        await self._fresh.applications.drop()


async def replace_documents(source: Any, target: Any) -> tuple[int, int]:
    """Make ``target`` hold exactly ``source``'s documents; (written, removed).

    Updates still pending in a target document's outbox are kept: the live service
    stored them and its relay publishes them.
    """
    kept: set[str] = set()
    async for document in source.find({}):
        derived = {key: document[key] for key in _DERIVED if key in document}
        absent = {key: "" for key in _DERIVED if key not in document}
        change: dict[str, Any] = {"$set": {**derived, "version": uuid.uuid4().hex}}
        if absent:
            change["$unset"] = absent
        await target.update_one({"_id": document["_id"]}, change, upsert=True)
        kept.add(document["_id"])
    stale = [found["_id"] async for found in target.find({}, {"_id": 1})]
    stale = [number for number in stale if number not in kept]
    for start in range(0, len(stale), BATCH):
        await target.delete_many({"_id": {"$in": stale[start : start + BATCH]}})
    return len(kept), len(stale)
