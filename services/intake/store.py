"""Intake's MongoDB adapter: subscriber directory, applications, number counters.

Documents are written whole (insert or replace); the embedded server used where no real
MongoDB exists keeps types only that way (see DESIGN.md section 10).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError


class DuplicateSubmission(Exception):
    """The submission id is already registered."""


class OpenApplicationExists(Exception):
    """Another open application holds the same subscriber code and reason."""


class IntakeStore(Protocol):
    async def ensure_indexes(self) -> None: ...
    async def registration_for(self, submission_id: str) -> dict[str, Any] | None: ...
    async def account(self, subscriber_code: str) -> dict[str, Any] | None: ...
    async def accounts_of(self, applicant_fin: str) -> list[dict[str, Any]]: ...
    async def open_numbers(self, subscriber_codes: Iterable[str]) -> dict[str, list[str]]: ...
    async def open_application(self, key: str) -> str | None: ...
    async def next_number(self, year: int) -> int: ...
    async def insert_application(self, document: dict[str, Any]) -> None: ...
    async def close_application(self, number: str, status: str, at: str) -> bool: ...
    async def upsert_subscribers(self, rows: list[dict[str, Any]]) -> int: ...


class MongoIntakeStore:
    def __init__(self, db: Any) -> None:
        self.db = db
        self.subscribers = db["subscribers"]
        self.applications = db["applications"]
        self.counters = db["counters"]

    async def ensure_indexes(self) -> None:
        await self.applications.create_index("submission_id", unique=True)
        # Present only while the application is open: one open per (subscriber, reason).
        await self.applications.create_index("open_key", unique=True, sparse=True)
        await self.applications.create_index([("subscriber_code", ASCENDING)])
        await self.applications.create_index([("outbox_since", ASCENDING)], sparse=True)
        await self.subscribers.create_index([("applicant_fin", ASCENDING)])

    async def registration_for(self, submission_id: str) -> dict[str, Any] | None:
        document = await self.applications.find_one({"submission_id": submission_id}, {"reply": 1})
        return None if document is None else dict(document["reply"])

    async def account(self, subscriber_code: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self.subscribers.find_one({"_id": subscriber_code})
        return document

    async def accounts_of(self, applicant_fin: str) -> list[dict[str, Any]]:
        cursor = self.subscribers.find({"applicant_fin": applicant_fin}).sort("_id", ASCENDING)
        return list(await cursor.to_list())

    async def open_numbers(self, subscriber_codes: Iterable[str]) -> dict[str, list[str]]:
        codes = list(subscriber_codes)
        found: dict[str, list[str]] = {code: [] for code in codes}
        cursor = self.applications.find(
            {"subscriber_code": {"$in": codes}, "open_key": {"$exists": True}},
            {"subscriber_code": 1},
        ).sort("_id", DESCENDING)  # lists are newest first
        for document in await cursor.to_list():
            found[document["subscriber_code"]].append(document["_id"])
        return found

    async def open_application(self, key: str) -> str | None:
        document = await self.applications.find_one({"open_key": key}, {"_id": 1})
        return None if document is None else str(document["_id"])

    async def next_number(self, year: int) -> int:
        counter = await self.counters.find_one_and_update(
            {"_id": f"SQ-{year}"},
            {"$inc": {"last": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["last"])

    async def insert_application(self, document: dict[str, Any]) -> None:
        try:
            await self.applications.insert_one(document)
        except DuplicateKeyError as exc:
            # Concurrent duplicates may break either unique index first: the id wins.
            if await self.applications.find_one(
                {"submission_id": document["submission_id"]}, {"_id": 1}
            ):
                raise DuplicateSubmission(document["submission_id"]) from exc
            if "open_key" in str(exc):
                raise OpenApplicationExists(document["open_key"]) from exc
            raise

    async def close_application(self, number: str, status: str, at: str) -> bool:
        result = await self.applications.update_one(
            {"_id": number, "open_key": {"$exists": True}},
            {"$unset": {"open_key": ""}, "$set": {"status": status, "closed_at": at}},
        )
        return bool(result.modified_count)

    async def upsert_subscribers(self, rows: list[dict[str, Any]]) -> int:
        for row in rows:
            await self.subscribers.replace_one({"_id": row["_id"]}, row, upsert=True)
        return len(rows)
