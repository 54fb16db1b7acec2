"""The transactional outbox of DESIGN.md section 9.

A state change and the events it causes are stored in one document write: the document
carries ``outbox`` (entries to publish, in order) and ``outbox_since`` (when the oldest was
stored). ``flush`` publishes a document's entries with confirms and removes them; the
``relay`` re-publishes whatever a crash left behind. Entries keep their ``message_id``, so a
re-publication after a crash is recognisable downstream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import structlog
from pydantic import BaseModel

from shared.clock import stamp, utc_now
from shared.contracts import routing
from shared.messaging import Messenger, new_message_id

log = structlog.get_logger("meter.outbox")


def event_entry(
    routing_key: str, body: BaseModel | Mapping[str, Any], correlation_id: str | None = None
) -> dict[str, Any]:
    """An outbox entry for one event on ``meter.events``."""
    payload = (
        body.model_dump(mode="json", exclude_none=True)
        if isinstance(body, BaseModel)
        else dict(body)
    )
    return {
        "message_id": new_message_id(),
        "exchange": routing.EVENTS_EXCHANGE,
        "routing_key": routing_key,
        "message_type": routing_key,
        "body": payload,
        "correlation_id": correlation_id,
    }


def with_outbox(document: dict[str, Any], entries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The document with ``entries`` appended to its outbox, ready for one write."""
    if not entries:
        return document
    pending = list(document.get("outbox") or [])
    since = document.get("outbox_since") if pending else None
    return {**document, "outbox": pending + list(entries), "outbox_since": since or stamp()}


class Outbox:
    """Publishes stored entries and removes them; one per service, over its collections."""

    def __init__(
        self,
        messenger: Messenger,
        collections: Sequence[Any],
        *,
        min_age: timedelta = timedelta(seconds=5),
        interval: float = 1.0,
    ) -> None:
        self.messenger = messenger
        self.collections = list(collections)
        self.min_age = min_age
        self.interval = interval

    async def flush(self, collection: Any, document: Mapping[str, Any]) -> int:
        """Publish ``document``'s pending entries in order, then remove them from it."""
        entries = list(document.get("outbox") or [])
        published: list[str] = []
        try:
            for entry in entries:
                await self.messenger.publish(
                    entry["body"],
                    exchange=entry["exchange"],
                    routing_key=entry["routing_key"],
                    message_type=entry["message_type"],
                    message_id=entry["message_id"],
                    correlation_id=entry.get("correlation_id"),
                )
                published.append(entry["message_id"])
        finally:
            if published:
                await self._remove(collection, document, published)
        return len(published)

    @staticmethod
    async def _remove(collection: Any, document: Mapping[str, Any], published: list[str]) -> None:
        everything = len(published) == len(document.get("outbox") or [])
        if everything and "version" in document:
            # Common case, one round trip: nothing was appended since the document was read.
            result = await collection.update_one(
                {"_id": document["_id"], "version": document["version"]},
                {"$set": {"outbox": []}, "$unset": {"outbox_since": ""}, "$inc": {"version": 1}},
            )
            if result.modified_count:
                return
        await collection.update_one(
            {"_id": document["_id"]},
            {"$pull": {"outbox": {"message_id": {"$in": published}}}, "$inc": {"version": 1}},
        )
        await collection.update_one(
            {"_id": document["_id"], "outbox": {"$size": 0}}, {"$unset": {"outbox_since": ""}}
        )

    async def relay_once(self) -> int:
        """Publish what older writes left pending (after a crash or a broker outage)."""
        cutoff = stamp(utc_now() - self.min_age)
        count = 0
        for collection in self.collections:
            cursor = collection.find({"outbox_since": {"$lte": cutoff}}).sort("outbox_since", 1)
            for document in await cursor.limit(200).to_list():
                count += await self.flush(collection, document)
        if count:
            log.info("outbox relayed", published=count)
        return count

    async def run(self) -> None:
        """Relay forever, every ``interval`` seconds; failures are logged and retried."""
        while True:
            try:
                await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay failed; will retry")
            await asyncio.sleep(self.interval)
