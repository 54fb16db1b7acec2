"""The notifier's MongoDB adapter: applicants' contacts and the delivery log.

``contacts``: one document per application, from its registration (phone, e-mail,
language). ``notifications``: one job per (application, event, channel), its ``_id`` being
that triple. Jobs are written whole (insert or replace) and guarded by ``version``; the
outbox of each job's outcome lives inside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Sequence
from typing import Any, cast

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.notifier.domain.jobs import OPEN_STATES, Job, NotificationOutcome, State
from services.notifier.domain.steps import Channel, Contact
from shared.outbox import MongoOutboxDocuments, Outbox, event_entry, with_outbox


class MongoNotifierStore:
    def __init__(self, db: Any, outbox: Outbox | None = None) -> None:
        self.contacts = db["contacts"]
        self.notifications = db["notifications"]
        self.outbox = outbox
        self.documents = MongoOutboxDocuments(self.notifications)
        if outbox is not None:
            outbox.watch(self.documents)

    async def ensure_indexes(self) -> None:
        await self.notifications.create_index([("next_attempt_at", ASCENDING)], sparse=True)
        await self.notifications.create_index([("application_number", ASCENDING)])
        await self.documents.ensure_index()

    async def remember_contact(self, number: str, contact: Contact, at: str) -> None:
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

    async def record(self, jobs: Sequence[Job]) -> int:
        recorded = 0
        for job in jobs:
            try:
                await self.notifications.insert_one(_document(job))
            except DuplicateKeyError:
                continue
            recorded += 1
        return recorded

    async def wake_waiting(self, number: str, at: str) -> None:
        await self.notifications.update_many(
            {"application_number": number, "state": "waiting"},
            {"$set": {"next_attempt_at": at}, "$inc": {"version": 1}},
        )

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        cursor = (
            self.notifications.find(
                {"state": {"$in": list(OPEN_STATES)}, "next_attempt_at": {"$lte": at}}
            )
            .sort("next_attempt_at", ASCENDING)
            .limit(limit + len(busy))
        )
        jobs = [_job(document) for document in await cursor.to_list()]
        return [job for job in jobs if job.id not in busy][:limit]

    async def earlier_open(self, job: Job) -> Job | None:
        document = await self.notifications.find_one(
            {
                "application_number": job.application_number,
                "channel": job.channel,
                "state": {"$in": list(OPEN_STATES)},
                "sequence": {"$lt": job.sequence},
            },
            sort=[("sequence", ASCENDING)],
        )
        return None if document is None else _job(document)

    async def replace(self, current: Job, new: Job) -> bool:
        return await self._replace(current, _document(new))

    async def save_and_publish(self, current: Job, final: Job, event: NotificationOutcome) -> bool:
        document = with_outbox(_document(final), [event_entry(event, final.correlation_id)])
        if not await self._replace(current, document):
            return False
        if self.outbox is not None:
            await self.outbox.publish_or_leave(self.documents, document)
        return True

    async def _replace(self, current: Job, document: dict[str, Any]) -> bool:
        result = await self.notifications.replace_one(
            {"_id": current.id, "version": current.version}, document
        )
        return bool(result.matched_count)

    async def job(self, job_id: str) -> Job | None:
        document = await self.notifications.find_one({"_id": job_id})
        return None if document is None else _job(document)


_OPTIONAL = ("last_error", "finished_at", "error", "receipt")


def _document(job: Job) -> dict[str, Any]:
    """The job as stored; the fields of a job's later states follow the ones it starts with."""
    document: dict[str, Any] = {
        "_id": job.id,
        "application_number": job.application_number,
        "event": job.event,
        "sequence": job.sequence,
        "channel": job.channel,
        "correlation_id": job.correlation_id,
        "details": dict(job.details),
        "state": job.state,
        "attempts": job.attempts,
    }
    if job.next_attempt_at is not None:
        document["next_attempt_at"] = job.next_attempt_at
    document.update(created_at=job.created_at, updated_at=job.updated_at, version=job.version)
    for name in _OPTIONAL:
        value = getattr(job, name)
        if value is not None:
            document[name] = value
    return document


def _job(document: dict[str, Any]) -> Job:
    return Job(
        id=str(document["_id"]),
        application_number=str(document["application_number"]),
        event=str(document["event"]),
        sequence=int(document["sequence"]),
        channel=cast(Channel, document["channel"]),
        correlation_id=document.get("correlation_id"),
        details={str(key): str(value) for key, value in (document.get("details") or {}).items()},
        state=cast(State, document["state"]),
        attempts=int(document.get("attempts", 0)),
        next_attempt_at=document.get("next_attempt_at"),
        created_at=str(document["created_at"]),
        updated_at=str(document["updated_at"]),
        version=int(document["version"]),
        **{name: document.get(name) for name in _OPTIONAL},
    )
