"""In-memory stand-ins for intake's store and outbox: fast handler tests, no delivery proof."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.intake.store import DuplicateSubmission, OpenApplicationExists


class MemoryIntakeStore:
    def __init__(self, subscribers: list[dict[str, Any]]) -> None:
        self.subscribers = {row["_id"]: row for row in subscribers}
        self.applications: dict[str, dict[str, Any]] = {}
        self.counter = 0

    async def ensure_indexes(self) -> None:
        return None

    async def registration_for(self, submission_id: str) -> dict[str, Any] | None:
        for document in self.applications.values():
            if document["submission_id"] == submission_id:
                return dict(document["reply"])
        return None

    async def account(self, subscriber_code: str) -> dict[str, Any] | None:
        return self.subscribers.get(subscriber_code)

    async def accounts_of(self, applicant_fin: str) -> list[dict[str, Any]]:
        return [row for row in self.subscribers.values() if row["applicant_fin"] == applicant_fin]

    async def open_numbers(self, subscriber_codes: Iterable[str]) -> dict[str, list[str]]:
        codes = list(subscriber_codes)
        return {
            code: [
                n
                for n, d in self.applications.items()
                if d["subscriber_code"] == code and "open_key" in d
            ]
            for code in codes
        }

    async def open_application(self, key: str) -> str | None:
        return next((n for n, d in self.applications.items() if d.get("open_key") == key), None)

    async def next_number(self, year: int) -> int:
        self.counter += 1
        return self.counter

    async def insert_application(self, document: dict[str, Any]) -> None:
        if await self.registration_for(document["submission_id"]) is not None:
            raise DuplicateSubmission(document["submission_id"])
        if await self.open_application(document["open_key"]) is not None:
            raise OpenApplicationExists(document["open_key"])
        self.applications[document["_id"]] = document

    async def close_application(self, number: str, status: str, at: str) -> bool:
        document = self.applications.get(number)
        if document is None or "open_key" not in document:
            return False
        del document["open_key"]
        document["status"] = status
        return True

    async def upsert_subscribers(self, rows: list[dict[str, Any]]) -> int:
        self.subscribers.update({row["_id"]: row for row in rows})
        return len(rows)


class RecordingOutbox:
    def __init__(self) -> None:
        self.flushed: list[dict[str, Any]] = []

    async def flush(self, collection: Any, document: dict[str, Any]) -> int:
        self.flushed.extend(document.get("outbox", []))
        return len(document.get("outbox", []))
