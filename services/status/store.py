"""The read model in MongoDB: one document per application, written whole.

Each write reads the document, merges the new facts (``domain.merged``) and writes the
result back guarded by the ``version`` it read (a fresh random token per write), retrying
when another writer got there first; the first write of an application inserts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.status import domain
from services.status.facts import Fact

MAX_ATTEMPTS = 50


class ConcurrentWrites(RuntimeError):
    """The document kept changing under us; the message is retried later."""


class StatusReader(Protocol):
    async def own_application(self, applicant_fin: str, number: str) -> dict[str, Any] | None: ...
    async def own_applications(self, applicant_fin: str) -> list[dict[str, Any]]: ...


class StatusStore(StatusReader, Protocol):
    async def ensure_indexes(self) -> None: ...
    async def record(self, number: str, facts: Sequence[Fact]) -> bool: ...


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

    async def own_application(self, applicant_fin: str, number: str) -> dict[str, Any] | None:
        found = await self.applications.find_one(
            {"_id": number, "applicant_fin": applicant_fin}, {"view": 1}
        )
        return None if found is None or found.get("view") is None else dict(found["view"])

    async def own_applications(self, applicant_fin: str) -> list[dict[str, Any]]:
        cursor = self.applications.find({"applicant_fin": applicant_fin}, {"view": 1}).sort(
            [("submitted_key", DESCENDING), ("_id", DESCENDING)]
        )
        return [domain.summary(found["view"]) async for found in cursor if found.get("view")]
