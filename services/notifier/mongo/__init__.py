"""The notifier's MongoDB adapter: applicants' contacts and the delivery log.

``notifications``: one job per (application, event, channel), its ``_id`` being that triple.
The registration's jobs keep the applicant's ``contact`` (phone, e-mail, language, and the
subscriber code and address the act's copy names): recorded with them, in the same insert.
``contacts``, one document per application, is where registrations recorded before that
kept it; it is read only for an application whose registration jobs hold none. Every change of a
job is an update guarded by ``version`` that sets the job's fields and unsets the ones it no
longer has, so ``followers`` (the ids of later steps waiting for this one, added by
``follow`` without a new version) survive until the job finishes. The outbox of each job's
outcome lives inside it.

``senders``: one document per running notifier process (``alive_until``, epoch
milliseconds), renewed every few seconds. A claim names its sender (``sender`` and a
``claim`` token, both taken out when the job leaves ``sending``); the jobs claimed by a
sender that stopped renewing are made due again at once instead of when their lease ends,
and so are a living sender's claims whose answer it never got and the attempts a stopping
sender cut off (``release_own``).

Published outcome events are taken out of the jobs' outboxes in batches
(``shared.outbox.BatchedOutboxDocuments``): one round trip for all the jobs finished
within ``clear_wait`` seconds instead of one each. Jobs finished and jobs recorded while an
earlier write of their kind is under way go out together, one command for each kind
(``shared.batching``).

``due_at`` is ``next_attempt_at`` in epoch milliseconds, present only while a job is due at
some time: the due-jobs query is a range scan of its sparse index, and a number keeps the
embedded MongoDB-compatible server on that index (it compares ISO-like text slowly).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Sequence
from functools import partial
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, WriteError

from services.notifier.domain.jobs import (
    OPEN_STATES,
    Job,
    NotificationOutcome,
    State,
    registration_job_ids,
)
from services.notifier.domain.steps import Contact
from services.notifier.mongo.documents import changes, document_of, job_of, millis
from shared.batching import Coalescing
from shared.mongo import insert_new
from shared.outbox import BatchedOutboxDocuments, Outbox, event_entry, with_outbox


class MongoNotifierStore:
    def __init__(
        self,
        db: Any,
        outbox: Outbox | None = None,
        *,
        clear_wait: float = 0.02,
        sender: str | None = None,
        write_linger: float = 0.0,
    ) -> None:
        """``clear_wait``: published outcome events leave the outboxes in batches gathered
        that long; ``write_linger`` > 0: each batch of finished jobs and wake-ups gathers
        that long before it goes."""
        self.contacts_collection = db["contacts"]
        self.notifications = db["notifications"]
        self.senders = db["senders"]
        self.sender = sender or uuid.uuid4().hex  # this process, as its claims name it
        self.outbox = outbox
        self.documents = BatchedOutboxDocuments(self.notifications, clear_wait)
        self.finishing = Coalescing(self._finish_all, linger=write_linger)
        # Jobs of several steps recorded together are one insert; a job stored already
        # stays as it is (the first wins, with the contact a registration's keeps). They go
        # at once: a later step's jobs, found before an earlier step's were recorded, would
        # go out before them (``rounds`` orders by the jobs it finds).
        self.recording = Coalescing(partial(insert_new, self.notifications))
        self.waking = Coalescing(self._make_all_due, linger=write_linger)
        if outbox is not None:
            outbox.watch(self.documents)

    async def aclose(self) -> None:
        """Remove the entries published but not yet taken out (shutdown)."""
        await self.documents.flush()

    async def ensure_indexes(self) -> None:
        await self.notifications.create_index([("due_at", ASCENDING)], sparse=True)
        await self.notifications.create_index([("application_number", ASCENDING)])
        await self.notifications.create_index([("sender", ASCENDING)], sparse=True)
        await self.documents.ensure_index()

    async def contacts(self, numbers: Collection[str]) -> dict[str, Contact]:
        return (await self.jobs_and_contacts((), numbers))[1]

    async def jobs_and_contacts(
        self, ids: Collection[str], numbers: Collection[str]
    ) -> tuple[list[Job], dict[str, Contact]]:
        wanted = set(ids)
        registrations = {job_id for number in numbers for job_id in registration_job_ids(number)}
        if not wanted and not registrations:
            return [], {}
        cursor = self.notifications.find({"_id": {"$in": sorted(wanted | registrations)}})
        found = await cursor.to_list()
        contacts = {
            str(document["application_number"]): _contact(document["contact"])
            for document in found
            if document["_id"] in registrations and document.get("contact")
        }
        older = [number for number in numbers if number not in contacts]
        if older:  # registered before contacts were kept with the jobs, or not yet
            cursor = self.contacts_collection.find({"_id": {"$in": older}})
            contacts.update(
                (str(document["_id"]), _contact(document)) for document in await cursor.to_list()
            )
        return [job_of(document) for document in found if document["_id"] in wanted], contacts

    async def record(self, jobs: Sequence[Job], contact: Contact | None = None) -> int:
        documents = [document_of(job) for job in jobs]
        if contact is not None:
            kept = _contact_document(contact)
            documents = [{**document, "contact": kept} for document in documents]
        return await self.recording(documents)

    async def make_due(self, ids: Collection[str], state: State, at: str) -> None:
        if ids:
            await self.waking((list(ids), state, at))

    async def _make_all_due(
        self, calls: list[tuple[list[str], State, str]]
    ) -> list[BaseException | None]:
        """One ``update_many`` per state for every call queued together, due at the latest
        of their times (all of them now, a few milliseconds apart)."""
        for state in sorted({state for _, state, _ in calls}):
            ids = sorted({i for ids, wanted, _ in calls if wanted == state for i in ids})
            at = max(at for _, wanted, at in calls if wanted == state)
            await self.notifications.update_many(
                {"_id": {"$in": ids}, "state": state},
                {
                    "$set": {"next_attempt_at": at, "due_at": millis(at), "updated_at": at},
                    "$inc": {"version": 1},
                },
            )
        return [None for _ in calls]

    async def count_due(self, at: str) -> int:
        return int(await self.notifications.count_documents(due_query(at)))

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        cursor = (
            self.notifications.find(due_query(at))
            .sort("due_at", ASCENDING)
            .limit(limit + len(busy))
        )
        jobs = [job_of(document) for document in await cursor.to_list()]
        return [job for job in jobs if job.id not in busy][:limit]

    async def jobs(self, ids: Collection[str]) -> list[Job]:
        if not ids:
            return []
        cursor = self.notifications.find({"_id": {"$in": list(ids)}})
        return [job_of(document) for document in await cursor.to_list()]

    async def claim(self, claims: Sequence[tuple[Job, Job]]) -> list[Job]:
        if not claims:
            return []
        tokens = {new.id: uuid.uuid4().hex for _, new in claims}
        writes = []
        for current, new in claims:
            update = changes(new)
            update["$set"].update(claim=tokens[new.id], sender=self.sender)
            writes.append(UpdateOne({"_id": current.id, "version": current.version}, update))
        result = await self.notifications.bulk_write(writes, ordered=False)
        if result.matched_count == len(claims):
            return [new for _, new in claims]
        # Another sender won some: the jobs that carry our token are ours.
        cursor = self.notifications.find({"_id": {"$in": list(tokens)}}, {"claim": 1, "version": 1})
        ours = {
            str(document["_id"])
            for document in await cursor.to_list()
            if document.get("claim") == tokens[str(document["_id"])]
        }
        return [new for _, new in claims if new.id in ours]

    async def beat(self, until: str) -> None:
        await self.senders.update_one(
            {"_id": self.sender}, {"$set": {"alive_until": millis(until)}}, upsert=True
        )

    async def release_dead(self, at: str) -> int:
        now = millis(at)
        cursor = self.senders.find({"alive_until": {"$lt": now}}, {"_id": 1})
        dead = [str(document["_id"]) for document in await cursor.to_list()]
        dead = [sender for sender in dead if sender != self.sender]
        if not dead:
            return 0
        taken = await self._release({"sender": {"$in": dead}, "state": "sending"}, at)
        await self.senders.delete_many({"_id": {"$in": dead}, "alive_until": {"$lt": now}})
        return taken

    async def release_own(self, at: str, busy: Collection[str], *, started: bool = False) -> int:
        query = {"sender": self.sender, "state": "sending", "_id": {"$nin": list(busy)}}
        # Never started: the attempt their claim counted was not made.
        return await self._release(query, at, attempts=0 if started else -1)

    async def _release(self, query: dict[str, Any], at: str, attempts: int = 0) -> int:
        """The claimed jobs ``query`` finds are due at ``at`` again, claimed by nobody."""
        counts = {"version": 1, "attempts": attempts} if attempts else {"version": 1}
        result = await self.notifications.update_many(
            query,
            {
                "$set": {"next_attempt_at": at, "due_at": millis(at), "updated_at": at},
                "$unset": {"sender": "", "claim": ""},
                "$inc": counts,
            },
        )
        return int(result.modified_count)

    async def follow(self, earlier: Job, follower_id: str) -> bool:
        # $push, not $addToSet: the embedded server's $addToSet does nothing to a missing
        # field. A follower noted twice is woken once (``save_and_publish`` reads a set).
        result = await self.notifications.update_one(
            {"_id": earlier.id, "state": {"$in": list(OPEN_STATES)}},
            {"$push": {"followers": follower_id}},
        )
        return bool(result.matched_count)

    async def replace(self, current: Job, new: Job) -> bool:
        result = await self.notifications.update_one(
            {"_id": current.id, "version": current.version}, changes(new)
        )
        return bool(result.matched_count)

    async def save_and_publish(
        self, current: Job, final: Job, event: NotificationOutcome
    ) -> tuple[str, ...] | None:
        entries = [event_entry(event, final.correlation_id)]
        outbox = with_outbox({"_id": final.id, "version": final.version}, entries)
        update = changes(final)
        update["$set"].update(outbox=outbox["outbox"], outbox_since=outbox["outbox_since"])
        followers = await self.finishing((current, update, entries[0]["message_id"]))
        if followers is None:
            return None
        if self.outbox is not None:
            await self.outbox.publish_or_leave(self.documents, outbox)
        return followers

    async def _finish_all(
        self, finals: list[tuple[Job, dict[str, Any], str]]
    ) -> list[tuple[str, ...] | BaseException | None]:
        """Store finished jobs; for each, the followers to wake, or None if it had changed.

        Several jobs finished together are one bulk write of those with no followers (most
        of them): when it matches them all, that is the only round trip. Otherwise one read
        tells which went through: a job holds its outcome event (``message_id``) then;
        versions alone cannot tell, since a sender that took the job back counts the same
        next version. The others go one at a time, as a single job does.
        """
        if len(finals) == 1:
            current, update, _ = finals[0]
            return [await self._finish_one(current, update)]
        writes = [
            UpdateOne(
                {"_id": current.id, "version": current.version, "followers": {"$exists": False}},
                update,
            )
            for current, update, _ in finals
        ]
        failed: dict[int, BaseException] = {}
        try:
            result = await self.notifications.bulk_write(writes, ordered=False)
            if result.matched_count == len(finals):
                return [() for _ in finals]
        except BulkWriteError as exc:
            for error in exc.details.get("writeErrors", []):
                failed[int(error["index"])] = WriteError(
                    error.get("errmsg", ""), error.get("code"), error
                )
        ids = [current.id for current, _, _ in finals]
        cursor = self.notifications.find({"_id": {"$in": ids}}, {"outbox": 1})
        stored = {str(found["_id"]): found for found in await cursor.to_list()}

        async def settled(index: int) -> tuple[str, ...] | BaseException | None:
            current, update, message_id = finals[index]
            entries = (stored.get(current.id) or {}).get("outbox") or []
            if index in failed:
                return failed[index]
            if any(entry.get("message_id") == message_id for entry in entries):
                return ()  # written, and it had no followers
            try:  # it has followers, or another writer won: as a single job
                return await self._finish_one(current, update)
            except Exception as exc:
                return exc

        return list(await asyncio.gather(*(settled(index) for index in range(len(finals)))))

    async def _finish_one(self, current: Job, update: dict[str, Any]) -> tuple[str, ...] | None:
        """One finished job, its followers taken out as it is written; None if it changed."""
        update = {**update, "$unset": {**update.get("$unset", {}), "followers": ""}}
        before = await self.notifications.find_one_and_update(
            {"_id": current.id, "version": current.version},
            update,
            projection={"followers": 1},
            return_document=ReturnDocument.BEFORE,
        )
        return None if before is None else _followers(before)

    async def job(self, job_id: str) -> Job | None:
        document = await self.notifications.find_one({"_id": job_id})
        return None if document is None else job_of(document)


def _contact_document(contact: Contact) -> dict[str, str]:
    return {
        "phone": contact.phone,
        "email": contact.email,
        "language": contact.language,
        "subscriber_code": contact.subscriber_code,
        "address": contact.address,
    }


def _contact(document: dict[str, Any]) -> Contact:
    # Contacts stored before the act's copy existed have no code or address.
    return Contact(
        document["phone"],
        document["email"],
        document["language"],
        document.get("subscriber_code", ""),
        document.get("address", ""),
    )


def _followers(document: dict[str, Any]) -> tuple[str, ...]:
    """The ids of the later steps a job's document says wait for it (noted twice, woken once)."""
    return tuple(sorted({str(follower) for follower in document.get("followers") or ()}))


def due_query(at: str) -> dict[str, Any]:
    """The due-jobs filter: a range of the sparse ``due_at`` index, which holds only jobs
    that are due at some time (finished ones and claimed ones past their lease drop out of
    it or move on)."""
    return {"due_at": {"$lte": millis(at)}}
