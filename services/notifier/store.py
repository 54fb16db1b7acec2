"""The notifier's MongoDB adapter: applicants' contacts and the delivery log.

``contacts``: one document per application, from its registration (phone, e-mail,
language). ``notifications``: one job per (application, event, channel), its ``_id`` being
that triple, so a redelivered event records nothing twice. Jobs are written whole and
guarded by ``version`` (see jobs.py); the outbox of each job's outcome lives inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.notifier.domain import Contact

OPEN_STATES = ["waiting", "pending", "sending"]


class NotifierStore(Protocol):
    notifications: Any  # the collection the outbox flushes

    async def ensure_indexes(self) -> None: ...
    async def remember_contact(self, number: str, contact: Contact, at: str) -> None: ...
    async def contact(self, number: str) -> Contact | None: ...
    async def record(self, jobs: list[dict[str, Any]]) -> int: ...
    async def wake_waiting(self, number: str, at: str) -> None: ...
    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[dict[str, Any]]: ...
    async def earlier_open(self, job: dict[str, Any]) -> dict[str, Any] | None: ...
    async def replace(self, current: dict[str, Any], new: dict[str, Any]) -> bool: ...
    async def job(self, job_id: str) -> dict[str, Any] | None: ...


class MongoNotifierStore:
    def __init__(self, db: Any) -> None:
        self.contacts = db["contacts"]
        self.notifications = db["notifications"]

    async def ensure_indexes(self) -> None:
        await self.notifications.create_index([("next_attempt_at", ASCENDING)], sparse=True)
        await self.notifications.create_index([("application_number", ASCENDING)])
        await self.notifications.create_index([("outbox_since", ASCENDING)], sparse=True)

    async def remember_contact(self, number: str, contact: Contact, at: str) -> None:
        """Keep the first registration's contact; a redelivered one changes nothing."""
        document = {
            "_id": number,
            "phone": contact.phone,
            "email": contact.email,
            "language": contact.language,
            "registered_at": at,
        }
        with contextlib.suppress(DuplicateKeyError):
            await self.contacts.insert_one(document)

    async def contact(self, number: str) -> Contact | None:
        document = await self.contacts.find_one({"_id": number})
        if document is None:
            return None
        return Contact(document["phone"], document["email"], document["language"])

    async def record(self, jobs: list[dict[str, Any]]) -> int:
        """Insert the jobs not recorded yet; how many were new."""
        recorded = 0
        for job in jobs:
            try:
                await self.notifications.insert_one(job)
            except DuplicateKeyError:
                continue
            recorded += 1
        return recorded

    async def wake_waiting(self, number: str, at: str) -> None:
        """The contact is known now: the application's waiting jobs are due at once."""
        await self.notifications.update_many(
            {"application_number": number, "state": "waiting"},
            {"$set": {"next_attempt_at": at}, "$inc": {"version": 1}},
        )

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[dict[str, Any]]:
        cursor = (
            self.notifications.find(
                {"state": {"$in": OPEN_STATES}, "next_attempt_at": {"$lte": at}}
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit + len(busy))
        )
        jobs = [job for job in await cursor.to_list() if job["_id"] not in busy]
        return jobs[:limit]

    async def earlier_open(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """An unfinished job of an earlier step of the same application and channel."""
        document: dict[str, Any] | None = await self.notifications.find_one(
            {
                "application_number": job["application_number"],
                "channel": job["channel"],
                "state": {"$in": OPEN_STATES},
                "sequence": {"$lt": job["sequence"]},
            },
            sort=[("sequence", ASCENDING)],
        )
        return document

    async def replace(self, current: dict[str, Any], new: dict[str, Any]) -> bool:
        """Write ``new`` if nobody changed the job since ``current`` was read."""
        result = await self.notifications.replace_one(
            {"_id": current["_id"], "version": current["version"]}, new
        )
        return bool(result.matched_count)

    async def job(self, job_id: str) -> dict[str, Any] | None:
        document: dict[str, Any] | None = await self.notifications.find_one({"_id": job_id})
        return document
