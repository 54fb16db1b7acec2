"""An in-memory ``StatusStore``: fast use-case tests, checked against MongoDB by the contract suite.

It keeps documents exactly as the MongoDB store writes them (``domain.document`` plus a
``version`` token per write), so tests may look at them alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.status import domain
from services.status.domain import Fact
from shared.contracts.replies import ApplicationSummary, ApplicationView


class MemoryStatusStore:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        held = self.documents.get(number)
        received = domain.merged(held["received"] if held else {}, facts)
        if received is None:
            return False
        self.documents[number] = {
            **domain.document(number, received),
            "version": uuid.uuid4().hex,
        }
        return True

    async def own_application(self, applicant_fin: str, number: str) -> ApplicationView | None:
        found = self.documents.get(number)
        if found is None or found.get("applicant_fin") != applicant_fin or not found["view"]:
            return None
        return domain.shown(found["view"])

    async def own_applications(self, applicant_fin: str) -> list[ApplicationSummary]:
        mine = [
            found
            for found in self.documents.values()
            if found.get("applicant_fin") == applicant_fin and found["view"]
        ]
        mine.sort(key=lambda found: (found["submitted_key"], found["_id"]), reverse=True)
        return [domain.listed(found["view"]) for found in mine]
