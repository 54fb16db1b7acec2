"""Intake's MongoDB adapter: subscriber directory, applications, number counters.

Documents are written whole (insert or replace): the embedded MongoDB-compatible server
keeps types only that way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.intake.domain import Account, Application
from services.intake.store import DuplicateSubmission, OpenApplicationExists, Publish
from shared.batching import Coalescing
from shared.clock import stamp
from shared.contracts.events import ApplicationRegistered
from shared.contracts.replies import ActiveMeter, Registered
from shared.mongo import Inserts, Lookup
from shared.outbox import (
    BatchedOutboxDocuments,
    MongoOutboxDocuments,
    Outbox,
    event_entry,
    with_outbox,
)


class MongoIntakeStore:
    """``clear_wait`` > 0: published entries leave the outboxes in batches
    (``BatchedOutboxDocuments``); ``close_wait`` > 0: applications closed within that many
    seconds are closed in one write (the events that close them are acknowledged after it)."""

    def __init__(
        self,
        db: Any,
        outbox: Outbox | None = None,
        *,
        clear_wait: float = 0.0,
        close_wait: float = 0.0,
    ) -> None:
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
        self._closing = Coalescing(self._close_all, linger=close_wait)
        # Concurrent registrations take their numbers in one write and are inserted in one.
        self._numbering = Coalescing(self._numbers)
        self._inserting = Inserts(self.applications)

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
        return await self._numbering(year)

    async def numbers_taken(self, year: int) -> int:
        counter = await self.counters.find_one({"_id": f"SQ-{year}"})
        return 0 if counter is None else int(counter["last"])

    async def _numbers(self, years: list[int]) -> list[int]:
        """The next numbers of the year for each caller, in order: one ``$inc`` by as many
        as ask at once (a batch spans two years only at midnight of New Year's Eve)."""
        last: dict[int, int] = {}
        for year, wanted in Counter(years).items():
            counter = await self.counters.find_one_and_update(
                {"_id": f"SQ-{year}"},
                {"$inc": {"last": wanted}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            last[year] = int(counter["last"]) - wanted
        numbers = []
        for year in years:
            last[year] += 1
            numbers.append(last[year])
        return numbers

    async def save(
        self,
        application: Application,
        event: ApplicationRegistered,
        correlation_id: str | None,
    ) -> Publish:
        document = with_outbox(_document(application), [event_entry(event, correlation_id)])
        try:
            await self._inserting(document)
        except DuplicateKeyError as exc:
            # Concurrent duplicates may break either unique index first: the id wins.
            if await self.applications.find_one(
                {"submission_id": application.submission_id}, {"_id": 1}
            ):
                raise DuplicateSubmission(application.submission_id) from exc
            if "open_key" in str(exc):
                raise OpenApplicationExists(application.open_key) from exc
            raise
        outbox = self.outbox

        async def publish() -> None:
            if outbox is not None:
                await outbox.publish_or_leave(self.documents, document)

        return publish

    async def close_application(self, number: str, status: str, at: str) -> bool:
        return await self._closing((number, status, at))

    async def _close_all(self, closes: list[tuple[str, str, str]]) -> list[bool]:
        """One write for every application closed together; each told whether it closed it."""
        if len(closes) == 1:
            number, status, at = closes[0]
            result = await self.applications.update_one(*_close(number, status, at))
            return [bool(result.modified_count)]
        written = await self.applications.bulk_write(
            [UpdateOne(*_close(*close)) for close in closes], ordered=False
        )
        if written.modified_count in (0, len(closes)):
            return [bool(written.modified_count)] * len(closes)
        # Some were closed before (a redelivered event): each closed now carries its stamp.
        cursor = self.applications.find(
            {"_id": {"$in": [number for number, _, _ in closes]}}, {"status": 1, "closed_at": 1}
        )
        stored = {d["_id"]: (d.get("status"), d.get("closed_at")) for d in await cursor.to_list()}
        closed, answers = set(), []
        for number, status, at in closes:
            answers.append(stored.get(number) == (status, at) and number not in closed)
            closed.add(number)
        return answers

    async def upsert_subscribers(self, accounts: list[Account]) -> int:
        # One round trip for the whole batch: each document replaced whole, or inserted.
        if accounts:
            writes = [
                ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in map(_subscriber, accounts)
            ]
            await self.subscribers.bulk_write(writes, ordered=False)
        return len(accounts)


def _close(number: str, status: str, at: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter and update that close an open application."""
    return (
        {"_id": number, "open_key": {"$exists": True}},
        {"$unset": {"open_key": ""}, "$set": {"status": status, "closed_at": at}},
    )


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
