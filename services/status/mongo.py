"""Status's MongoDB adapter: the read model, one document per application, written whole.

Each write reads the document, merges the new facts (``domain.merged``) and writes the
result back guarded by the ``version`` it read (a fresh random token per write), retrying
when another writer got there first; the first write of an application inserts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.status import domain
from services.status.domain import Fact
from services.status.store import ConcurrentWrites
from shared.contracts.replies import ApplicationSummary, ApplicationView

MAX_ATTEMPTS = 50
LIVE_COLLECTION = "applications"
FRESH_COLLECTION = "applications_rebuild"
BATCH = 1000


class MongoStatusStore:
    def __init__(self, collection: Any) -> None:
        self.applications = collection

    async def ensure_indexes(self) -> None:
        await self.applications.create_index(
            [("applicant_fin", ASCENDING), ("submitted_key", DESCENDING)]
        )

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        """Merge ``facts`` into the application's document; False when nothing was new."""
        for _ in range(MAX_ATTEMPTS):
            held = await self.applications.find_one({"_id": number})
            received = domain.merged(held["received"] if held else {}, facts)
            if received is None:
                return False
            new = {**domain.document(number, received), "version": uuid.uuid4().hex}
            if held is None:
                try:
                    await self.applications.insert_one(new)
                except DuplicateKeyError:
                    continue
                return True
            result = await self.applications.replace_one(
                {"_id": number, "version": held["version"]}, new
            )
            if result.matched_count:
                return True
        raise ConcurrentWrites(f"{number}: {MAX_ATTEMPTS} writes lost to concurrent ones")

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


class MongoRebuild:
    """The live read model and a fresh one beside it, in the same database."""

    def __init__(self, db: Any) -> None:
        self._live = MongoStatusStore(db[LIVE_COLLECTION])
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
