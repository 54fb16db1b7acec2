"""One contract for the notifier's store, run against the in-memory fake and MongoDB alike:
concurrent duplicates record and claim a job once, so two deliveries of one event can never
both send; a job is finished together with its outcome event."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifier.domain import jobs
from services.notifier.domain.jobs import Job
from services.notifier.domain.steps import Contact, StepEvent
from services.notifier.mongo import MongoNotifierStore
from services.notifier.store import NotifierStore
from shared.clock import stamp
from shared.contracts.events import event_body
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.notifier.fakes import MemoryNotifierStore
from tests.support.recording import RecordingMessenger

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POLICY = jobs.RetryPolicy()
N = "SQ-2026-000301"


@dataclass
class Subject:
    store: NotifierStore
    # () -> each outcome published: (routing key, body, correlation id)
    published: Callable[[], list[tuple[str, dict[str, Any], str | None]]]


@pytest.fixture
async def memory_subject() -> Subject:
    store = MemoryNotifierStore()
    return Subject(
        store,
        lambda: [(e.routing_key, event_body(e), cid) for e, cid in store.published],
    )


@dataclass
class MongoParts:
    db: Any
    messenger: RecordingMessenger
    outbox: Outbox
    store: MongoNotifierStore


@pytest.fixture
async def mongo_parts(mongo_url: str) -> AsyncIterator[MongoParts]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    messenger = RecordingMessenger()
    outbox = Outbox(messenger, min_age=timedelta(0))  # type: ignore[arg-type]
    store = MongoNotifierStore(db, outbox)
    await store.ensure_indexes()
    yield MongoParts(db, messenger, outbox, store)
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
async def mongo_subject(mongo_parts: MongoParts) -> Subject:
    published = mongo_parts.messenger.published
    return Subject(
        mongo_parts.store,
        lambda: [(p.routing_key, p.body, p.correlation_id) for p in published],
    )


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.store)])
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.getfixturevalue(f"{request.param}_subject")  # type: ignore[no-any-return]


@pytest.fixture
def store(subject: Subject) -> NotifierStore:
    return subject.store


def step(key: str = "application.forwarded", sequence: int = 2) -> StepEvent:
    return StepEvent(key, N, sequence)


async def test_concurrent_duplicates_of_an_event_record_its_jobs_once(
    store: NotifierStore,
) -> None:
    counts = await asyncio.gather(
        *(store.record(jobs.new_jobs(step(), NOW, True)) for _ in range(8))
    )
    assert sorted(counts) == [0] * 7 + [2]


async def test_only_one_of_concurrent_claims_of_a_job_wins(store: NotifierStore) -> None:
    await store.record(jobs.new_jobs(step(), NOW, True))
    [job] = await store.due(stamp(NOW), 1, busy=())
    results = await asyncio.gather(
        *(store.claim([(job, jobs.claimed(job, NOW, POLICY))]) for _ in range(8))
    )
    assert [len(won) for won in results].count(1) == 1
    stored: Any = await store.job(job.id)
    assert stored.state == "sending"
    assert stored.attempts == 1


async def test_a_claimed_job_is_not_due_until_its_lease_runs_out(store: NotifierStore) -> None:
    await store.record(jobs.new_jobs(step(), NOW, True))
    due = await store.due(stamp(NOW), 10, busy=())
    assert len(due) == 2
    await store.replace(due[0], jobs.claimed(due[0], NOW, POLICY))
    assert [job.id for job in await store.due(stamp(NOW), 10, busy=())] == [due[1].id]
    lease_over = stamp(NOW + timedelta(seconds=POLICY.lease))
    assert due[0].id in [job.id for job in await store.due(lease_over, 10, busy=())]


def registration(number: str, contact: Contact) -> list[Job]:
    return jobs.new_jobs(StepEvent("application.registered", number, 1, contact=contact), NOW, True)


async def test_the_first_registration_keeps_the_contact_with_its_jobs(store: NotifierStore) -> None:
    first = Contact("+994501234567", "a@example.az", "en")
    assert await store.record(registration(N, first), first) == 2
    second = Contact("+994551112233", "b@example.az", "ru")
    assert await store.record(registration(N, second), second) == 0
    other = "SQ-2026-000302"
    third = Contact("+994701112233", "c@example.az", "az")
    await store.record(registration(other, third), third)
    # A later step's jobs keep no contact: the registration's are where it is read from.
    await store.record(jobs.new_jobs(step(), NOW, True))
    assert await store.contacts([N, other, "SQ-2026-999999"]) == {
        N: Contact("+994501234567", "a@example.az", "en"),
        other: Contact("+994701112233", "c@example.az", "az"),
    }
    assert await store.contacts([]) == {}


async def test_a_contact_keeps_what_the_acts_copy_names(store: NotifierStore) -> None:
    contact = Contact(
        "+994501234567", "a@example.az", "az", "1000001", "Şəki ş., M. Ə. Rəsulzadə 7"
    )
    await store.record(registration(N, contact), contact)
    assert await store.contacts([N]) == {N: contact}


async def test_a_registration_writes_its_jobs_alone_and_their_contact_survives_their_changes(
    mongo_parts: MongoParts,
) -> None:
    store, db = mongo_parts.store, mongo_parts.db
    contact = Contact("+994501234567", "a@example.az", "az", "1000001", "Bakı")
    made = registration(N, contact)
    assert await store.record(made, contact) == 2
    assert await db["contacts"].count_documents({}) == 0, "no write of its own"
    for job in made:
        assert await store.replace(job, jobs.claimed(job, NOW, POLICY))
    assert await store.contacts([N]) == {N: contact}


async def test_contacts_kept_with_jobs_and_older_ones_kept_apart_are_read_together(
    mongo_parts: MongoParts,
) -> None:
    """A registration recorded before contacts were kept with its jobs is found in the
    ``contacts`` collection it was kept in then."""
    store, db = mongo_parts.store, mongo_parts.db
    older = "SQ-2026-000299"
    await db["contacts"].insert_one(
        {"_id": older, "phone": "+994551112233", "email": "o@example.az", "language": "ru"}
    )
    await store.record(registration(older, Contact("+1", "x@example.az")))  # kept no contact
    contact = Contact("+994501234567", "a@example.az", "az")
    await store.record(registration(N, contact), contact)
    assert await store.contacts([N, older]) == {
        N: contact,
        older: Contact("+994551112233", "o@example.az", "ru", "", ""),
    }


async def test_a_contact_stored_before_the_acts_copy_reads_with_no_code_or_address(
    mongo_parts: MongoParts,
) -> None:
    document = {"_id": N, "phone": "+994501234567", "email": "a@example.az", "language": "en"}
    await mongo_parts.db["contacts"].insert_one(document)
    assert await mongo_parts.store.contacts([N]) == {
        N: Contact("+994501234567", "a@example.az", "en", "", "")
    }


async def test_an_email_job_keeps_the_act_exactly_and_the_sms_job_does_not_hold_it(
    store: NotifierStore,
) -> None:
    act = '{"act_number":"AKT-1","installer_name":"Əli Şükürov","seal_numbers":["S-1"]}'
    completion = StepEvent("application.completed", N, 4, {"outcome": "installed", "act": act})
    await store.record(jobs.new_jobs(completion, NOW, True))
    ids = [jobs.job_id(N, completion.key, "email"), jobs.job_id(N, completion.key, "sms")]
    email, sms = sorted(await store.jobs(ids), key=lambda job: job.id)
    assert email.details == {"outcome": "installed", "act": act}
    assert sms.details == {"outcome": "installed"}


async def test_jobs_are_read_by_id_and_missing_ids_are_left_out(store: NotifierStore) -> None:
    await store.record(jobs.new_jobs(step("application.registered", 1), NOW, True))
    wanted = [
        jobs.job_id(N, "application.registered", "sms"),
        jobs.job_id(N, "application.forwarded", "sms"),
    ]
    assert [job.id for job in await store.jobs(wanted)] == wanted[:1]
    assert await store.jobs([]) == []


async def test_waiting_jobs_become_due_when_the_contact_arrives(store: NotifierStore) -> None:
    await store.record(jobs.new_jobs(step(), NOW, contact_known=False))
    [job, other] = await store.due(stamp(NOW), 10, busy=())
    await store.replace(job, jobs.still_waiting(job, NOW, POLICY))
    assert len(await store.due(stamp(NOW), 10, busy=())) == 1
    await store.make_due([job.id, other.id], "waiting", stamp(NOW))
    woken = await store.due(stamp(NOW), 10, busy=())
    assert [job.state for job in woken] == ["waiting", "waiting"]
    # Only jobs in the state named: the other was waiting too, the version tells who moved.
    assert [job.version for job in woken] == [3, 2]


async def test_a_batch_of_claims_writes_only_the_jobs_nobody_changed_meanwhile(
    store: NotifierStore,
) -> None:
    await store.record(jobs.new_jobs(step(), NOW, True))
    [email, sms] = await store.due(stamp(NOW), 10, busy=())
    assert await store.replace(sms, jobs.deferred(sms, NOW, stamp(NOW)))  # someone else's

    won = await store.claim([(job, jobs.claimed(job, NOW, POLICY)) for job in (email, sms)])

    assert [job.id for job in won] == [email.id]
    assert await store.job(email.id) == won[0]
    stored_sms = await store.job(sms.id)
    assert stored_sms is not None
    assert stored_sms.state == "pending"
    assert await store.claim([]) == []


async def test_a_job_put_behind_an_earlier_one_is_named_when_that_one_finishes(
    store: NotifierStore,
) -> None:
    await store.record(jobs.new_jobs(step("application.registered", 1), NOW, True))
    earlier = await store.job(jobs.job_id(N, "application.registered", "sms"))
    assert earlier is not None
    assert await store.follow(earlier, "later-1")
    assert await store.follow(earlier, "later-1")  # noted once, however often
    # The earlier job changes state (claimed, retried) and keeps its followers.
    taken = jobs.claimed(earlier, NOW, POLICY)
    assert await store.claim([(earlier, taken)]) == [taken]
    later = jobs.retry_later(taken, NOW, "gateway answered 503", POLICY)
    assert await store.replace(taken, later)
    assert await store.follow(later, "later-2")
    again = jobs.claimed(later, NOW, POLICY)
    assert await store.claim([(later, again)]) == [again]
    sent = jobs.finished(again, NOW, receipt="gw-1")

    followers = await store.save_and_publish(again, sent, jobs.outcome_event(sent, NOW))

    assert followers is not None
    assert sorted(followers) == ["later-1", "later-2"]
    finished = await store.job(earlier.id)
    assert finished is not None
    assert not await store.follow(finished, "later-3")  # nobody would wake it


async def test_a_job_reads_back_as_it_was_written_in_every_state(store: NotifierStore) -> None:
    [job, _] = jobs.new_jobs(step(), NOW, True, correlation_id="corr-7")
    await store.record([job])
    assert await store.job(job.id) == job
    taken = jobs.claimed(job, NOW, POLICY)
    later = jobs.retry_later(taken, NOW, "gateway answered 503", POLICY)
    again = jobs.claimed(later, NOW, POLICY)
    failed = jobs.finished(again, NOW, error="gateway answered 400 (permanent)")
    current = job
    for new in (taken, later, again, failed):
        assert await store.replace(current, new)
        assert await store.job(job.id) == new
        current = new
    sent = jobs.finished(jobs.claimed(job, NOW, POLICY), NOW, receipt="gw-1")
    assert sent.receipt == "gw-1"
    assert await store.job("SQ-2026-000301:application.nothing:sms") is None


async def test_a_stale_copy_of_a_job_changes_nothing(store: NotifierStore) -> None:
    [job, _] = jobs.new_jobs(step(), NOW, True)
    await store.record([job])
    taken = jobs.claimed(job, NOW, POLICY)
    assert await store.replace(job, taken)
    assert not await store.replace(job, jobs.still_waiting(job, NOW, POLICY))
    assert (
        await store.save_and_publish(
            job, jobs.finished(job, NOW, receipt="x"), jobs.outcome_event(taken, NOW)
        )
        is None
    )
    assert await store.job(job.id) == taken


async def test_a_finished_job_and_its_outcome_event_are_saved_and_published_together(
    subject: Subject,
) -> None:
    [job, _] = jobs.new_jobs(step(), NOW, True, correlation_id="journey-42")
    await subject.store.record([job])
    taken = jobs.claimed(job, NOW, POLICY)
    await subject.store.replace(job, taken)
    sent = jobs.finished(taken, NOW, receipt="gw-1")

    assert await subject.store.save_and_publish(taken, sent, jobs.outcome_event(sent, NOW)) == ()

    stored = await subject.store.job(job.id)
    assert stored is not None
    # Taking the published entry out of the outbox may count as a change of its own.
    assert stored.version >= sent.version
    assert dataclasses.replace(stored, version=sent.version) == sent
    assert subject.published() == [
        (
            "notification.delivered",
            {
                "application_number": N,
                "occurred_at": "2026-11-27T12:00:00.000+04:00",
                "event": "application.forwarded",
                "channel": "email",
                "attempts": 1,
            },
            "journey-42",
        )
    ]
    # Final: never due again, never an earlier step holding a later one back.
    assert await subject.store.due(stamp(NOW + timedelta(days=30)), 10, busy=()) == []


async def test_due_jobs_come_soonest_first_within_the_limit_except_the_busy_ones(
    store: NotifierStore,
) -> None:
    for minutes, number in enumerate(["SQ-2026-000003", "SQ-2026-000001", "SQ-2026-000002"]):
        made = jobs.new_jobs(StepEvent("application.forwarded", number, 2), NOW, True)
        await store.record(
            [dataclasses.replace(made[1], next_attempt_at=stamp(NOW + timedelta(minutes=minutes)))]
        )
    at = stamp(NOW + timedelta(hours=1))
    order = ["SQ-2026-000003", "SQ-2026-000001", "SQ-2026-000002"]
    assert [job.application_number for job in await store.due(at, 10, busy=())] == order
    assert [job.application_number for job in await store.due(at, 2, busy=())] == order[:2]
    busy = {jobs.job_id("SQ-2026-000003", "application.forwarded", "sms")}
    assert [job.application_number for job in await store.due(at, 2, busy)] == order[1:]
    assert await store.due(stamp(NOW - timedelta(seconds=1)), 10, busy=()) == []
    # The gauge counts them all, whatever a round may take, and none not yet due.
    assert await store.count_due(at) == 3
    assert await store.count_due(stamp(NOW + timedelta(seconds=30))) == 1
    assert await store.count_due(stamp(NOW - timedelta(seconds=1))) == 0


# --- MongoDB only: the stored documents and the outbox relay -----------------------------


@pytest.mark.store
async def test_the_delivery_log_keeps_its_document_shape(mongo_parts: MongoParts) -> None:
    [job, _] = jobs.new_jobs(step(), NOW, True, correlation_id="c-1")
    store = mongo_parts.store
    await store.record([job])
    taken = jobs.claimed(job, NOW, POLICY)
    later = jobs.retry_later(taken, NOW, "gateway answered 503", POLICY)
    assert await store.claim([(job, taken)]) == [taken]
    await store.replace(taken, later)
    document = await mongo_parts.db["notifications"].find_one({"_id": job.id})
    assert list(document) == [
        "_id",
        "application_number",
        "event",
        "sequence",
        "channel",
        "correlation_id",
        "details",
        "state",
        "attempts",
        "next_attempt_at",
        "due_at",
        "created_at",
        "updated_at",
        "version",
        "last_error",
    ]  # its claim (``claim``, ``sender``) ended with the attempt
    assert document["_id"] == f"{N}:application.forwarded:email"
    assert (document["state"], document["attempts"], document["version"]) == ("pending", 1, 3)
    assert document["last_error"] == "gateway answered 503"
    assert document["next_attempt_at"] == stamp(NOW + timedelta(seconds=10))
    # The same moment in epoch milliseconds: what the due-jobs index holds.
    assert document["due_at"] == int((NOW + timedelta(seconds=10)).timestamp() * 1000)
    sent = jobs.finished(jobs.claimed(later, NOW, POLICY), NOW, receipt="gw-1")
    await store.replace(later, jobs.claimed(later, NOW, POLICY))
    await store.replace(jobs.claimed(later, NOW, POLICY), sent)
    final = await mongo_parts.db["notifications"].find_one({"_id": job.id})
    # A finished job is in no due index: neither time is left on it.
    assert "next_attempt_at" not in final
    assert "due_at" not in final
    assert (final["state"], final["receipt"]) == ("sent", "gw-1")


@pytest.mark.store
async def test_an_outcome_the_broker_did_not_take_is_left_to_the_relay(
    mongo_parts: MongoParts,
) -> None:
    store, messenger = mongo_parts.store, mongo_parts.messenger
    [job, _] = jobs.new_jobs(step(), NOW, True, correlation_id="c-2")
    await store.record([job])
    failed = jobs.finished(job, NOW, error="no contact")
    messenger.fail = True

    assert await store.save_and_publish(job, failed, jobs.outcome_event(failed, NOW)) == ()

    document = await mongo_parts.db["notifications"].find_one({"_id": job.id})
    assert document["state"] == "failed"
    assert "next_attempt_at" not in document
    [entry] = document["outbox"]
    assert entry["routing_key"] == "notification.failed"
    assert entry["body"]["error"] == "no contact"
    messenger.fail = False
    assert await mongo_parts.outbox.relay_once() == 1
    [published] = messenger.published
    assert (published.routing_key, published.correlation_id) == ("notification.failed", "c-2")
    assert published.message_id == entry["message_id"]
    await store.aclose()  # published entries are taken out in batches: the last one now
    after = await mongo_parts.db["notifications"].find_one({"_id": job.id})
    assert not after.get("outbox")


@pytest.mark.store
async def test_published_outcomes_are_taken_out_of_the_outboxes_together(
    mongo_parts: MongoParts,
) -> None:
    store = mongo_parts.store
    finished = []
    for number in ("SQ-2026-000311", "SQ-2026-000312", "SQ-2026-000313"):
        [job, _] = jobs.new_jobs(StepEvent("application.forwarded", number, 2), NOW, True)
        await store.record([job])
        sent = jobs.finished(job, NOW, receipt="x")
        assert await store.save_and_publish(job, sent, jobs.outcome_event(sent, NOW)) == ()
        finished.append(job.id)
    assert len(mongo_parts.messenger.published) == 3

    await asyncio.sleep(0.2)  # the batch goes out shortly after the last one

    cursor = mongo_parts.db["notifications"].find({"_id": {"$in": finished}})
    documents = await cursor.to_list()
    assert [document.get("outbox") for document in documents] == [[], [], []]
    assert all("outbox_since" not in document for document in documents)


async def test_the_jobs_of_a_sender_that_stopped_are_due_again_at_once(
    mongo_parts: MongoParts,
) -> None:
    died = MongoNotifierStore(mongo_parts.db, sender="died")
    alive = MongoNotifierStore(mongo_parts.db, sender="alive")
    await died.record(jobs.new_jobs(step(), NOW, True))
    email, sms = await died.due(stamp(NOW), 10, busy=())
    await died.beat(stamp(NOW + timedelta(seconds=30)))
    await alive.beat(stamp(NOW + timedelta(seconds=90)))
    assert await died.claim([(email, jobs.claimed(email, NOW, POLICY))])
    assert await alive.claim([(sms, jobs.claimed(sms, NOW, POLICY))])
    later = stamp(NOW + timedelta(seconds=60))  # "died" stopped renewing 30 s ago
    assert await alive.due(later, 10, busy=()) == []  # both leases still run

    assert await alive.release_dead(later) == 1
    [again] = await alive.due(later, 10, busy=())
    assert (again.id, again.state, again.attempts) == (email.id, "sending", 1)
    assert await alive.claim([(again, jobs.claimed(again, NOW, POLICY))])  # taken back
    senders = await mongo_parts.db["senders"].find({}, {"_id": 1}).to_list()
    assert [document["_id"] for document in senders] == ["alive"]
    assert await alive.release_dead(later) == 0  # "alive" is alive; nothing else is left


async def test_a_sender_alive_at_the_time_keeps_its_jobs(mongo_parts: MongoParts) -> None:
    other = MongoNotifierStore(mongo_parts.db, sender="other")
    store = mongo_parts.store
    await store.record(jobs.new_jobs(step(), NOW, True))
    await store.beat(stamp(NOW + timedelta(seconds=30)))
    [job, _] = await store.due(stamp(NOW), 10, busy=())
    assert await store.claim([(job, jobs.claimed(job, NOW, POLICY))])
    assert await other.release_dead(stamp(NOW + timedelta(seconds=29))) == 0
    assert (await store.job(job.id)).state == "sending"  # type: ignore[union-attr]
    # A sender never takes back its own jobs, whatever its mark says.
    assert await store.release_dead(stamp(NOW + timedelta(seconds=31))) == 0


async def test_a_senders_own_claims_it_is_not_sending_are_due_again_uncounted(
    mongo_parts: MongoParts,
) -> None:
    store = mongo_parts.store
    other = MongoNotifierStore(mongo_parts.db, sender="other")
    await store.record(jobs.new_jobs(step(), NOW, True))
    await store.record(jobs.new_jobs(step("application.completed", 3), NOW, True))
    mine, busy, theirs, _ = await store.due(stamp(NOW), 10, busy=())
    assert await store.claim([(job, jobs.claimed(job, NOW, POLICY)) for job in (mine, busy)])
    assert await other.claim([(theirs, jobs.claimed(theirs, NOW, POLICY))])
    later = stamp(NOW + timedelta(seconds=5))

    assert await store.release_own(later, busy={busy.id}) == 1
    [again] = [job for job in await store.due(later, 10, busy=()) if job.state == "sending"]
    assert (again.id, again.attempts) == (mine.id, 0)
    document = await mongo_parts.db["notifications"].find_one({"_id": mine.id})
    assert not {"sender", "claim"} & set(document)
    assert (await store.job(busy.id)).state == "sending"  # type: ignore[union-attr]
    assert (await store.job(theirs.id)).state == "sending"  # type: ignore[union-attr]
    assert await store.release_own(later, busy={busy.id}) == 0
    # At shutdown, the attempt cut off counts.
    assert await store.release_own(later, busy=(), started=True) == 1
    cut_off = await store.job(busy.id)
    assert cut_off is not None
    assert (cut_off.attempts, cut_off.next_attempt_at) == (1, later)


async def test_a_finished_job_keeps_no_claim(mongo_parts: MongoParts) -> None:
    store = mongo_parts.store
    await store.record(jobs.new_jobs(step(), NOW, True))
    job, _ = await store.due(stamp(NOW), 10, busy=())
    [claimed] = await store.claim([(job, jobs.claimed(job, NOW, POLICY))])
    sent = jobs.finished(claimed, NOW, receipt="x")
    assert await store.save_and_publish(claimed, sent, jobs.outcome_event(sent, NOW)) == ()
    document = await mongo_parts.db["notifications"].find_one({"_id": job.id})
    assert document["state"] == "sent"
    assert not {"sender", "claim"} & set(document)


async def test_jobs_finished_together_each_wake_their_own_followers_and_a_taken_back_one_none(
    subject: Subject,
) -> None:
    """Outcomes stored at once go out together (one bulk write and one read, in MongoDB).
    A job another sender took back meanwhile is not ours to finish, even though its
    version counts the same as our finished one."""
    store = subject.store
    numbers = [f"SQ-2026-00032{n}" for n in range(5)]
    taken = []
    for number in numbers:
        [job, _] = jobs.new_jobs(StepEvent("application.forwarded", number, 2), NOW, True)
        await store.record([job])
        [won] = await store.claim([(job, jobs.claimed(job, NOW, POLICY))])
        taken.append(won)
    assert await store.follow(taken[1], "later-1")
    assert await store.follow(taken[1], "later-2")
    lease_over = NOW + timedelta(seconds=POLICY.lease)
    elsewhere = jobs.claimed(taken[3], lease_over, POLICY)  # another sender's, same version
    assert await store.replace(taken[3], elsewhere)
    finished = [jobs.finished(job, NOW, receipt=f"gw-{n}") for n, job in enumerate(taken)]
    assert finished[3].version == elsewhere.version

    results = await asyncio.gather(
        *(
            store.save_and_publish(job, sent, jobs.outcome_event(sent, NOW))
            for job, sent in zip(taken, finished, strict=True)
        )
    )

    assert [None if r is None else sorted(r) for r in results] == [
        [],
        ["later-1", "later-2"],
        [],
        None,
        [],
    ]
    assert await store.job(taken[3].id) == elsewhere
    for n in (0, 1, 2, 4):
        stored = await store.job(taken[n].id)
        assert stored is not None
        assert (stored.state, stored.receipt) == ("sent", f"gw-{n}")
    assert sorted(body["application_number"] for _, body, _ in subject.published()) == [
        numbers[0],
        numbers[1],
        numbers[2],
        numbers[4],
    ]
    if isinstance(store, MongoNotifierStore):
        assert store.finishing.batches < len(numbers)  # the writes went out together


@pytest.mark.store
async def test_jobs_finished_together_with_no_followers_cost_one_bulk_write(
    mongo_url: str,
) -> None:
    sent: list[int] = []
    client = make_client(mongo_url, "tests", on_command=lambda _name: sent.append(1))
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    try:
        store = MongoNotifierStore(db)  # no outbox: nothing published, nothing taken out
        taken = []
        for n in range(6):
            number = f"SQ-2026-00033{n}"
            [job, _] = jobs.new_jobs(StepEvent("application.forwarded", number, 2), NOW, True)
            await store.record([job])
            [won] = await store.claim([(job, jobs.claimed(job, NOW, POLICY))])
            taken.append(won)
        finished = [jobs.finished(job, NOW, receipt="gw") for job in taken]
        sent.clear()

        results = await asyncio.gather(
            *(
                store.save_and_publish(job, done, jobs.outcome_event(done, NOW))
                for job, done in zip(taken, finished, strict=True)
            )
        )

        assert results == [()] * len(taken)
        # All six queued before the first batch left: one bulk write, nothing read back.
        assert len(sent) == 1
        assert store.finishing.batches == 1
        assert [job.state for job in await store.jobs([j.id for j in taken])] == ["sent"] * 6
    finally:
        await client.drop_database(db.name)
        await client.close()


@pytest.mark.store
async def test_with_a_linger_jobs_finished_one_by_one_go_out_together(mongo_url: str) -> None:
    """At a low rate each finished job would be written alone; gathered for
    ``write_linger``, jobs finished a few milliseconds apart share one bulk write."""
    sent: list[str] = []
    client = make_client(mongo_url, "tests", on_command=sent.append)
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    try:
        store = MongoNotifierStore(db, write_linger=0.1)  # no outbox: nothing published
        taken = []
        for n in range(4):
            [job, _] = jobs.new_jobs(
                StepEvent("application.forwarded", f"SQ-2026-00037{n}", 2), NOW, True
            )
            await store.record([job])
            [won] = await store.claim([(job, jobs.claimed(job, NOW, POLICY))])
            taken.append(won)
        sent.clear()

        async def later(index: int, job: Job) -> tuple[str, ...] | None:
            await asyncio.sleep(0.01 * index)  # one by one, well within the linger
            done = jobs.finished(job, NOW, receipt="gw")
            return await store.save_and_publish(job, done, jobs.outcome_event(done, NOW))

        results = await asyncio.gather(*(later(i, job) for i, job in enumerate(taken)))

        assert results == [()] * len(taken)
        assert sent == ["update notifications"]  # one bulk write, nothing read back
        assert [job.state for job in await store.jobs([j.id for j in taken])] == ["sent"] * 4
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_jobs_made_due_together_move_only_from_the_state_each_call_names(
    store: NotifierStore,
) -> None:
    """Calls queued together are one update per state in MongoDB."""
    later = NOW + timedelta(hours=1)
    waiting, pending = [], []
    for n in range(3):
        number = f"SQ-2026-00035{n}"
        [job, _] = jobs.new_jobs(StepEvent("application.forwarded", number, 2), NOW, False)
        await store.record([job])
        held = jobs.still_waiting(job, NOW, POLICY)  # waiting for the contact, due later
        assert await store.replace(job, held)
        waiting.append(held)
        [other, _] = jobs.new_jobs(StepEvent("application.assigned", number, 3), NOW, True)
        await store.record([other])
        deferred = jobs.deferred(other, NOW, stamp(later))  # behind an earlier step
        assert await store.replace(other, deferred)
        pending.append(deferred)
    assert await store.due(stamp(NOW), 10, busy=()) == []

    await asyncio.gather(
        store.make_due([waiting[0].id, pending[0].id], "waiting", stamp(NOW)),
        store.make_due([pending[1].id], "pending", stamp(NOW)),
        store.make_due([waiting[2].id], "waiting", stamp(NOW)),
        store.make_due([waiting[1].id], "pending", stamp(NOW)),  # not in that state
    )

    due = {job.id for job in await store.due(stamp(NOW), 10, busy=())}
    assert due == {waiting[0].id, pending[1].id, waiting[2].id}
