"""The delivery log on the MongoDB-speaking server: concurrent duplicates record and claim
a job once, so two deliveries of one event can never both send."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.notifier import jobs
from services.notifier.domain import Contact, StepEvent
from services.notifier.store import MongoNotifierStore
from shared.clock import stamp
from shared.mongo import make_client

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POLICY = jobs.RetryPolicy()
N = "SQ-2026-000301"


@pytest.fixture
async def store(mongo_url: str) -> AsyncIterator[MongoNotifierStore]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    store = MongoNotifierStore(db)
    await store.ensure_indexes()
    yield store
    await client.drop_database(db.name)
    await client.close()


def step(key: str = "application.forwarded", sequence: int = 2) -> StepEvent:
    return StepEvent(key, N, sequence)


async def test_concurrent_duplicates_of_an_event_record_its_jobs_once(
    store: MongoNotifierStore,
) -> None:
    counts = await asyncio.gather(
        *(store.record(jobs.new_jobs(step(), NOW, True)) for _ in range(8))
    )
    assert sorted(counts) == [0] * 7 + [2]


async def test_only_one_of_concurrent_claims_of_a_job_wins(store: MongoNotifierStore) -> None:
    await store.record(jobs.new_jobs(step(), NOW, True))
    [job] = await store.due(stamp(NOW), 1, busy=())
    results = await asyncio.gather(
        *(store.replace(job, jobs.claimed(job, NOW, POLICY)) for _ in range(8))
    )
    assert results.count(True) == 1
    stored: Any = await store.job(job["_id"])
    assert stored["state"] == "sending"
    assert stored["attempts"] == 1


async def test_a_claimed_job_is_not_due_until_its_lease_runs_out(
    store: MongoNotifierStore,
) -> None:
    await store.record(jobs.new_jobs(step(), NOW, True))
    due = await store.due(stamp(NOW), 10, busy=())
    assert len(due) == 2
    await store.replace(due[0], jobs.claimed(due[0], NOW, POLICY))
    assert [job["_id"] for job in await store.due(stamp(NOW), 10, busy=())] == [due[1]["_id"]]


async def test_the_first_registration_keeps_the_contact(store: MongoNotifierStore) -> None:
    await store.remember_contact(N, Contact("+994501234567", "a@example.az", "en"), stamp(NOW))
    await store.remember_contact(N, Contact("+994551112233", "b@example.az", "ru"), stamp(NOW))
    assert await store.contact(N) == Contact("+994501234567", "a@example.az", "en")
    assert await store.contact("SQ-2026-999999") is None


async def test_an_earlier_unfinished_step_on_the_same_channel_is_found(
    store: MongoNotifierStore,
) -> None:
    await store.record(jobs.new_jobs(step("application.registered", 1), NOW, True))
    await store.record(jobs.new_jobs(step("application.forwarded", 2), NOW, True))
    later = await store.job(jobs.job_id(N, "application.forwarded", "sms"))
    assert later is not None
    earlier = await store.earlier_open(later)
    assert earlier is not None
    assert earlier["_id"] == jobs.job_id(N, "application.registered", "sms")
    await store.replace(earlier, jobs.finished(earlier, NOW, receipt="x"))
    assert await store.earlier_open(later) is None


async def test_waiting_jobs_become_due_when_the_contact_arrives(
    store: MongoNotifierStore,
) -> None:
    await store.record(jobs.new_jobs(step(), NOW, contact_known=False))
    [job, _] = await store.due(stamp(NOW), 10, busy=())
    await store.replace(job, jobs.still_waiting(job, NOW, POLICY))
    assert len(await store.due(stamp(NOW), 10, busy=())) == 1
    await store.wake_waiting(N, stamp(NOW))
    woken = await store.due(stamp(NOW), 10, busy=())
    assert [job["state"] for job in woken] == ["waiting", "waiting"]
