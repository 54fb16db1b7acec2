"""Intake's MongoDB adapter: subscriber directory, applications, number counters.

Documents are written whole (insert or replace): the embedded MongoDB-compatible server
keeps types only that way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.intake.domain import Account, Application
from services.intake.store import DuplicateSubmission, OpenApplicationExists
from shared.clock import stamp
from shared.contracts.events import ApplicationRegistered
from shared.contracts.replies import ActiveMeter, Registered
from shared.mongo import Lookup
from shared.outbox import (
    BatchedOutboxDocuments,
    MongoOutboxDocuments,
    Outbox,
    event_entry,
    with_outbox,
)


class MongoIntakeStore:
    def __init__(self, db: Any, outbox: Outbox | None = None, *, clear_wait: float = 0.0) -> None:
        self.subscribers = db["subscribers"]
        self.applications = db["applications"]
        self.counters = db["counters"]
        self.outbox = outbox
        self.documents: MongoOutboxDocuments | BatchedOutboxDocuments = (
            BatchedOutboxDocuments(self.applications, clear_wait)
            if clear_wait > 0
            else MongoOutboxDocuments(self.applications)
        )
        if outbox is not None:
            outbox.watch(self.documents)
        # Lookups of concurrent submissions go out together (one find for them all).
        self._by_submission = Lookup(self.applications, "submission_id", {"reply": 1})
        self._by_open_key = Lookup(self.applications, "open_key", {"_id": 1})
        self._subscriber = Lookup(self.subscribers)

    async def ensure_indexes(self) -> None:
        await self.applications.create_index("submission_id", unique=True)
        # Present only while the application is open: one open per (subscriber, reason).
        await self.applications.create_index("open_key", unique=True, sparse=True)
        await self.applications.create_index([("subscriber_code", ASCENDING)])
        await self.documents.ensure_index()
        await self.subscribers.create_index([("applicant_fin", ASCENDING)])

    async def registration_for(self, submission_id: str) -> Registered | None:
        document = await self._by_submission(submission_id)
        return None if document is None else Registered.model_validate(document["reply"])

    async def account(self, subscriber_code: str) -> Account | None:
        document = await self._subscriber(subscriber_code)
        return None if document is None else _account(document)

    async def accounts_of(self, applicant_fin: str) -> list[Account]:
        cursor = self.subscribers.find({"applicant_fin": applicant_fin}).sort("_id", ASCENDING)
        return [_account(document) for document in await cursor.to_list()]

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
        document = await self._by_open_key(key)
        return None if document is None else str(document["_id"])

    async def next_number(self, year: int) -> int:
        counter = await self.counters.find_one_and_update(
            {"_id": f"SQ-{year}"},
            {"$inc": {"last": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return int(counter["last"])

    async def save_and_publish(
        self,
        application: Application,
        event: ApplicationRegistered,
        correlation_id: str | None,
    ) -> None:
        document = with_outbox(_document(application), [event_entry(event, correlation_id)])
        try:
            await self.applications.insert_one(document)
        except DuplicateKeyError as exc:
            # Concurrent duplicates may break either unique index first: the id wins.
            if await self.applications.find_one(
                {"submission_id": application.submission_id}, {"_id": 1}
            ):
                raise DuplicateSubmission(application.submission_id) from exc
            if "open_key" in str(exc):
                raise OpenApplicationExists(application.open_key) from exc
            raise
        if self.outbox is not None:
            await self.outbox.publish_or_leave(self.documents, document)

    async def close_application(self, number: str, status: str, at: str) -> bool:
        result = await self.applications.update_one(
            {"_id": number, "open_key": {"$exists": True}},
            {"$unset": {"open_key": ""}, "$set": {"status": status, "closed_at": at}},
        )
        return bool(result.modified_count)

    async def upsert_subscribers(self, accounts: list[Account]) -> int:
        # One round trip for the whole batch: each document replaced whole, or inserted.
        if accounts:
            writes = [
                ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in map(_subscriber, accounts)
            ]
            await self.subscribers.bulk_write(writes, ordered=False)
        return len(accounts)


def _document(application: Application) -> dict[str, Any]:
    return {
        "_id": application.number,
        "submission_id": application.submission_id,
        "open_key": application.open_key,
        "status": "open",
        "applicant_fin": application.applicant_fin,
        "subscriber_code": application.subscriber_code,
        "reason_code": application.reason_code,
        "channel": application.channel,
        "registered_at": stamp(application.registered_at),
        "reply": application.reply.model_dump(mode="json"),
        "version": 1,
    }


def _subscriber(account: Account) -> dict[str, Any]:
    return {
        "_id": account.subscriber_code,
        "applicant_fin": account.applicant_fin,
        "address": account.address,
        "district_code": account.district_code,
        "active_meters": [meter.model_dump(mode="json") for meter in account.active_meters],
    }


def _account(document: dict[str, Any]) -> Account:
    return Account(
        subscriber_code=str(document["_id"]),
        applicant_fin=str(document["applicant_fin"]),
        address=str(document.get("address", "")),
        district_code=str(document.get("district_code", "")),
        active_meters=tuple(
            ActiveMeter.model_validate(meter) for meter in document.get("active_meters") or []
        ),
    )
