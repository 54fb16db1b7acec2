"""The transactional outbox of docs/reliability.md.

A state change and the events it causes are stored in one document write: the document
carries ``outbox`` (entries to publish, in order) and ``outbox_since`` (when the oldest was
stored, in epoch milliseconds: a number, which every MongoDB-speaking server compares inside
its index). ``flush`` publishes a document's entries with confirms and removes them; the
``relay`` re-publishes whatever a crash left behind. A store saves a document and its
entries in one write, then calls ``publish_or_leave``: the one place that publishes now
and otherwise leaves the entries to the relay. Entries keep their ``message_id``, so a
re-publication after a crash is recognisable downstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from aio_pika.exceptions import DeliveryError
from pymongo import UpdateOne

from shared.clock import utc_now
from shared.contracts.events import DomainEvent, event_body
from shared.contracts.registry import EVENTS_EXCHANGE
from shared.messaging import Messenger, new_message_id

log = structlog.get_logger("meter.outbox")

# How long a service's published entries wait to be removed together (one round trip).
# Publishing is not delayed by it; a crash within it only has those entries published again.
CLEAR_WAIT = 0.25
# The same for documents that another instance may well rewrite soon after (a work order
# reported right after its assignment): such a write publishes again, in order, whatever it
# finds still in the outbox, so their entries wait less.
SHARED_CLEAR_WAIT = 0.02
# How many documents emptied by a batch a process remembers (``emptied_at``).
EMPTIED_KEPT = 1024
# The longest a document whose message the broker refused waits for its next try (seconds).
MAX_HOLD = 30.0


def event_entry(event: DomainEvent, correlation_id: str | None = None) -> dict[str, Any]:
    """An outbox entry for one event on ``meter.events``."""
    return message_entry(
        EVENTS_EXCHANGE, event.routing_key, event.routing_key, event_body(event), correlation_id
    )


def message_entry(
    exchange: str,
    routing_key: str,
    message_type: str,
    body: Mapping[str, Any],
    correlation_id: str | None = None,
    *,
    mandatory: bool = False,
) -> dict[str, Any]:
    """An outbox entry for any message a state change causes. A ``mandatory`` one that no
    queue takes (none bound to its routing key) is reported when published: logged, and
    handed to the hooks of ``Outbox.when_unrouted``."""
    entry: dict[str, Any] = {
        "message_id": new_message_id(),
        "exchange": exchange,
        "routing_key": routing_key,
        "message_type": message_type,
        "body": dict(body),
        "correlation_id": correlation_id,
    }
    if mandatory:
        entry["mandatory"] = True
    return entry


def with_outbox(document: dict[str, Any], entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The document with ``entries`` appended to its outbox, ready for one write."""
    if not entries:
        return document
    pending = list(document.get("outbox") or [])
    since = document.get("outbox_since") if pending else None
    return {**document, "outbox": pending + list(entries), "outbox_since": since or _millis()}


def without_entries(document: dict[str, Any], message_ids: set[str]) -> dict[str, Any]:
    """The document without the outbox entries ``message_ids`` (published already)."""
    if not message_ids or not document.get("outbox"):
        return document
    kept = [entry for entry in document["outbox"] if entry["message_id"] not in message_ids]
    if kept:
        return {**document, "outbox": kept}
    return {k: v for k, v in document.items() if k not in ("outbox", "outbox_since")}


def _millis(moment: datetime | None = None) -> int:
    return int((moment or utc_now()).timestamp() * 1000)


class OutboxDocuments(Protocol):
    """State documents that carry an outbox, as the publisher and the relay need them."""

    name: str

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        """Documents whose outbox holds entries stored before ``older_than``, oldest first."""
        ...

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        """Remove the entries ``message_ids`` (published) from ``document``'s outbox (now,
        or queued for a batch)."""
        ...

    async def flush(self) -> None:
        """Remove whatever ``published`` queued; nothing when it queues nothing."""
        ...


class MongoOutboxDocuments:
    """``OutboxDocuments`` over one MongoDB collection whose documents carry ``version``."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.name = str(collection.name)

    async def ensure_index(self) -> None:
        await self.collection.create_index([("outbox_since", 1)], sparse=True)

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        cursor = self.collection.find({"outbox_since": {"$lte": older_than}})
        return list(await cursor.sort("outbox_since", 1).limit(limit).to_list())

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        everything = len(message_ids) == len(document.get("outbox") or [])
        if everything and "version" in document:
            # Common case, one round trip: nothing was appended since the document was read.
            result = await self.collection.update_one(
                {"_id": document["_id"], "version": document["version"]},
                {"$set": {"outbox": []}, "$unset": {"outbox_since": ""}, "$inc": {"version": 1}},
            )
            if result.modified_count:
                return
        await self.collection.update_one(
            {"_id": document["_id"]},
            {"$pull": {"outbox": {"message_id": {"$in": message_ids}}}, "$inc": {"version": 1}},
        )
        await self.collection.update_one(
            {"_id": document["_id"], "outbox": {"$size": 0}}, {"$unset": {"outbox_since": ""}}
        )

    async def flush(self) -> None:
        """Nothing is queued: ``published`` removes at once."""

    def take_published(self, document_id: Any) -> set[str]:
        """Nothing is queued: ``published`` removes at once."""
        return set()


class BatchedOutboxDocuments:
    """``OutboxDocuments`` whose published entries are removed in batches: one
    ``bulk_write`` for all the documents published within ``wait`` seconds, instead of a
    round trip each. ``wait_of`` gives a document a wait of its own (a document nobody
    rewrites any more can wait longer than one another instance may rewrite soon); a batch
    goes out when its first entry is due, with every entry pending.

    Each removal is guarded by the version the document was published at. Should one not
    match (the document changed meanwhile), the batch's entries still stored are pulled out
    by id, in two more round trips for the whole batch. The relay leaves alone the documents
    whose removal is queued here. What is not removed (a crash) the relay publishes again
    after its minimum age; ``Outbox.run`` removes what is queued when it stops.
    """

    def __init__(
        self,
        collection: Any,
        wait: float,
        *,
        wait_of: Callable[[Mapping[str, Any]], float] | None = None,
    ) -> None:
        self.documents = MongoOutboxDocuments(collection)
        self.collection = collection
        self.name = self.documents.name
        self.wait = wait
        # A document's own wait (``wait`` when None): the batch goes out when its first
        # entry is due, every pending entry in it, due or not (the round trip is made anyway).
        self.wait_of = wait_of
        self._pending: list[tuple[Mapping[str, Any], list[str]]] = []
        self._removing: list[tuple[Mapping[str, Any], list[str]]] = []  # the batch written now
        self._flushing: asyncio.Task[None] | None = None
        self._writing = asyncio.Lock()  # one batch written at a time; ``flush`` waits for it
        self._due: float | None = None  # the loop time the pending batch goes out
        self._sooner = asyncio.Event()  # an entry due before ``_due`` came
        # Documents this process emptied with a batch: _id -> (version emptied, entries).
        self._emptied: OrderedDict[Any, tuple[Any, frozenset[str]]] = OrderedDict()

    async def ensure_index(self) -> None:
        await self.documents.ensure_index()

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        busy = {document["_id"] for document, _ in [*self._pending, *self._removing]}
        found = await self.documents.left_over(older_than, limit)
        return [document for document in found if document["_id"] not in busy]

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        self._pending.append((document, message_ids))
        wait = self.wait if self.wait_of is None else self.wait_of(document)
        due = asyncio.get_running_loop().time() + wait
        if self._due is None or due < self._due:
            self._due = due
            self._sooner.set()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_soon())

    def take_published(self, document_id: Any) -> set[str]:
        """The entries of this document published and not yet taken out; those queued are
        taken off the queue. The caller is about to write the document anew without them
        (``without_entries``) and, should that write lose, queues them again
        (``published``)."""
        taken = {
            entry
            for document, ids in [*self._pending, *self._removing]
            if document["_id"] == document_id
            for entry in ids
        }
        if taken:
            self._pending = [item for item in self._pending if item[0]["_id"] != document_id]
        return taken

    def emptied_at(self, document_id: Any, version: Any) -> frozenset[str] | None:
        """The entries this process took out of the document when it was at ``version``
        (which made it ``version`` + 1, with an empty outbox), or None. A writer whose
        guarded write found the document changed since it read it at ``version`` can write
        again at ``version`` + 1 without those entries: no one else changed it between."""
        found = self._emptied.pop(document_id, None)
        return found[1] if found is not None and found[0] == version else None

    async def _flush_soon(self) -> None:
        # Until nothing is pending: entries added while a batch is being written go in the
        # next batch, not wait for another ``published`` (the relay would send them again).
        loop = asyncio.get_running_loop()
        while self._pending:
            delay = (self._due or 0.0) - loop.time()
            if delay > 0:
                self._sooner.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._sooner.wait()
                continue  # due now, or an entry due sooner came: look again
            with contextlib.suppress(Exception):  # left to the relay
                await self.flush()

    async def flush(self) -> None:
        """Remove every entry queued, after the batch being written (if one is) is done:
        when it returns, nothing this process published is still on its way out."""
        async with self._writing:
            pending, self._pending = self._pending, []
            self._due = None
            if not pending:
                return
            self._removing = pending
            try:
                await self._remove(pending)
            finally:
                self._removing = []

    async def _remove(self, pending: list[tuple[Mapping[str, Any], list[str]]]) -> None:
        whole = [
            (document, ids)
            for document, ids in pending
            if "version" in document
            and {entry["message_id"] for entry in document.get("outbox") or []} <= set(ids)
        ]
        if len(whole) == len(pending):
            writes = [
                UpdateOne(
                    {"_id": document["_id"], "version": document["version"]},
                    {
                        "$set": {"outbox": []},
                        "$unset": {"outbox_since": ""},
                        "$inc": {"version": 1},
                    },
                )
                for document, _ in whole
            ]
            result = await self.collection.bulk_write(writes, ordered=False)
            if result.matched_count == len(writes):
                for document, ids in whole:
                    self._emptied[document["_id"]] = (document["version"], frozenset(ids))
                while len(self._emptied) > EMPTIED_KEPT:
                    self._emptied.popitem(last=False)
                return
        # Which ones changed is not known: pull each batch entry still stored, by id.
        gone: dict[Any, set[str]] = {}
        for document, ids in pending:
            gone.setdefault(document["_id"], set()).update(ids)
        pulls = [
            UpdateOne(
                {"_id": number},
                {"$pull": {"outbox": {"message_id": {"$in": sorted(ids)}}}, "$inc": {"version": 1}},
            )
            for number, ids in gone.items()
        ]
        await self.collection.bulk_write(pulls, ordered=False)
        await self.collection.update_many(
            {"_id": {"$in": list(gone)}, "outbox": {"$size": 0}}, {"$unset": {"outbox_since": ""}}
        )


class Outbox:
    """Publishes stored entries and removes them; the relay retries what is left."""

    def __init__(
        self,
        messenger: Messenger,
        *,
        min_age: timedelta = timedelta(seconds=5),
        interval: float = 1.0,
    ) -> None:
        self.messenger = messenger
        self.sources: list[OutboxDocuments] = []
        self.min_age = min_age
        self.interval = interval
        # Entries the last relay pass found left over (``meter_outbox_backlog``).
        self.backlog = 0
        # Documents the broker refused: (source, _id) -> (refusals, monotonic retry time).
        self._held: dict[tuple[str, Any], tuple[int, float]] = {}
        # Called with each mandatory entry no queue took (``when_unrouted``).
        self._unrouted_hooks: list[Callable[[Mapping[str, Any]], Any]] = []

    def watch(self, *sources: OutboxDocuments) -> None:
        """Let the relay look after these documents' outboxes."""
        self.sources.extend(sources)

    def when_unrouted(self, hook: Callable[[Mapping[str, Any]], Any]) -> None:
        """Call ``hook`` (awaited if it is a coroutine function) with each mandatory entry
        that no queue took once published: the metric counts it, the dispatcher marks the
        work order to send it again."""
        self._unrouted_hooks.append(hook)

    async def flush(self, source: OutboxDocuments, document: Mapping[str, Any]) -> int:
        """Publish ``document``'s pending entries in order, then remove them from it."""
        entries = list(document.get("outbox") or [])
        published: list[str] = []
        try:
            for entry in entries:
                routed = await self.messenger.publish(
                    entry["body"],
                    exchange=entry["exchange"],
                    routing_key=entry["routing_key"],
                    message_type=entry["message_type"],
                    message_id=entry["message_id"],
                    correlation_id=entry.get("correlation_id"),
                    mandatory=bool(entry.get("mandatory")),
                )
                published.append(entry["message_id"])
                if not routed:
                    # Kept back, it would hold up every later entry of its document.
                    body = entry["body"] if isinstance(entry["body"], Mapping) else {}
                    log.warning(
                        "message published where no queue is bound: delivered nowhere",
                        exchange=entry["exchange"],
                        routing_key=entry["routing_key"],
                        message_type=entry["message_type"],
                        message_id=entry["message_id"],
                        application_number=body.get("application_number"),
                        work_order_id=body.get("work_order_id"),
                    )
                    for hook in self._unrouted_hooks:
                        called = hook(entry)
                        if inspect.isawaitable(called):
                            await called
        finally:
            if published:
                await source.published(document, published)
        return len(published)

    async def publish_or_leave(self, source: OutboxDocuments, document: Mapping[str, Any]) -> None:
        """Publish a just-stored document's entries now; if that fails, the relay will."""
        if not document.get("outbox"):
            return
        try:
            await self.flush(source, document)
        except Exception as exc:  # stored already: the relay publishes it later
            log.warning("events left to the outbox relay", error=f"{type(exc).__name__}: {exc}")

    async def relay_once(self) -> int:
        """Publish what older writes left pending (after a crash or a broker outage).

        A document whose message the broker refused (a nack: a stream or queue bound to
        the exchange without a leader, or full) keeps its entries, and the documents behind
        it are still published: one refusal holds back no other document. The refused one
        is tried again after ``interval`` seconds, doubling with each refusal up to
        ``MAX_HOLD`` (each try also puts copies in the queues that took the message, which
        their consumers drop by its id). Any other failure (the connection) ends the round.
        """
        cutoff = _millis(utc_now() - self.min_age)
        found = [(source, await source.left_over(cutoff, 200)) for source in self.sources]
        self.backlog = sum(len(doc.get("outbox") or []) for _, docs in found for doc in docs)
        now = time.monotonic()
        seen = {(source.name, doc["_id"]) for source, docs in found for doc in docs}
        self._held = {key: held for key, held in self._held.items() if key in seen}
        count = refused = 0
        for source, documents in found:
            for document in documents:
                key = (source.name, document["_id"])
                refusals, until = self._held.get(key, (0, now))
                if until > now:
                    continue
                try:
                    count += await self.flush(source, document)
                except DeliveryError as exc:
                    refused += 1
                    hold = min(self.interval * 2**refusals, MAX_HOLD)
                    self._held[key] = (refusals + 1, now + hold)
                    if refused == 1:
                        log.warning(
                            "outbox entry refused by the broker; kept for a later round",
                            source=source.name,
                            document=str(document["_id"]),
                            refusals=refusals + 1,
                            error=f"{type(exc).__name__}: {exc}",
                        )
                else:
                    self._held.pop(key, None)
        if count or refused:
            log.info("outbox relayed", published=count, refused=refused)
        return count

    async def run(self) -> None:
        """Relay forever, every ``interval`` seconds; failures are logged and retried.

        When stopped, the removals the sources still queue are made, so the next start
        does not publish those entries again.
        """
        try:
            while True:
                try:
                    await self.relay_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay failed; will retry")
                await asyncio.sleep(self.interval)
        finally:
            for source in self.sources:
                with contextlib.suppress(Exception):  # left to the relay of the next start
                    await source.flush()
