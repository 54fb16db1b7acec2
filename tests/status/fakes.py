"""An in-memory ``StatusStore``: fast use-case tests, checked against MongoDB by the contract suite.

It keeps documents exactly as the MongoDB store writes them (``domain.document`` plus a
``version`` token per write), so tests may look at them alike, and keeps the portal
updates it would publish, in order, in ``published`` (none when ``updates`` is off, as
for a rebuild).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.status import domain
from services.status.domain import Fact
from shared.contracts.portal import ApplicationUpdated
from shared.contracts.replies import ApplicationSummary, ApplicationView
from shared.documents import ActCopy


class MemoryStatusStore:
    def __init__(self, *, updates: bool = True) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.updates = updates
        self.published: list[ApplicationUpdated] = []

    async def ensure_indexes(self) -> None:
        return None

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        held = self.documents.get(number)
        received = domain.merged(held["received"] if held else {}, facts)
        if received is None:
            return False
        new = {**domain.document(number, received), "version": uuid.uuid4().hex}
        self.documents[number] = new
        update = domain.portal_update(held, new) if self.updates else None
        if update is not None:
            self.published.append(update)
        return True

    async def own_application(self, applicant_fin: str, number: str) -> ApplicationView | None:
        found = self._own(applicant_fin, number)
        return None if found is None else domain.shown(found["view"])

    async def own_applications(self, applicant_fin: str) -> list[ApplicationSummary]:
        mine = [
            found
            for found in self.documents.values()
            if found.get("applicant_fin") == applicant_fin and found["view"]
        ]
        mine.sort(key=lambda found: (found["submitted_key"], found["_id"]), reverse=True)
        return [domain.listed(found["view"]) for found in mine]

    async def own_act(self, applicant_fin: str, number: str) -> ActCopy | None:
        found = self._own(applicant_fin, number)
        return None if found is None else domain.act_copy(found)

    def _own(self, applicant_fin: str, number: str) -> dict[str, Any] | None:
        found = self.documents.get(number)
        if found is None or found.get("applicant_fin") != applicant_fin or not found["view"]:
            return None
        return found
