"""What makes the sender fast, tested without timing anything: several messages in flight
at once, SMTP connections and one HTTP client reused, several due jobs claimed in one
round, the next step due as soon as the previous one finishes, the due-jobs query served
by an index, few database round trips per notification, and two senders on one delivery
log never sending one notification twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from services.notifier.background import Sender
from services.notifier.domain.jobs import RetryPolicy
from services.notifier.mongo import MongoNotifierStore, due_query
from services.notifier.usecases import Notifier
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.notifier.conftest import completed, forwarded, registered
from tests.notifier.fakes import FakeProvider, MemoryNotifierStore
from tests.notifier.inprocess import LocalNotifier, real_providers
from tests.notifier.servers import Gateway, SmtpServer, wait_until
from tests.notifier.test_exactly_once import all_ids, record
from tests.support.recording import RecordingMessenger

A = "SQ-2026-000801"


async def test_the_sender_has_several_messages_in_flight_against_a_slow_server(
    smtp: SmtpServer, gateway: Gateway
) -> None:
    smtp.data_delay = gateway.delay = 0.3
    mailer, sms = real_providers(smtp, gateway)
    notifier = Notifier(MemoryNotifierStore(), mailer, sms, RetryPolicy())
    sender = Sender(notifier, interval=0.05, concurrency=16)
    numbers = [f"SQ-2026-{810 + n:06d}" for n in range(8)]
    for number in numbers:
        await record(notifier, number)
    task = asyncio.create_task(sender.run())
    try:
        await wait_until(lambda: len(smtp.received) == 24 and len(gateway.accepted) == 24, "all")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await mailer.aclose()
        await sms.aclose()

    assert gateway.in_flight.most >= 4
    # E-mails go over the pool's connections: several at once, never more than it holds.
    assert 2 <= smtp.in_flight.most <= 4
    assert mailer.pool.opened <= 4


async def test_one_smtp_connection_carries_message_after_message_and_is_replaced_when_lost(
    smtp: SmtpServer, gateway: Gateway
) -> None:
    mailer, sms = real_providers(smtp, gateway)
    local = LocalNotifier(mailer, sms)
    for number in ("SQ-2026-000821", "SQ-2026-000822", "SQ-2026-000823"):
        await local.publish("application.registered", registered(number))
        await local.run()
    assert len(smtp.received) == 3
    assert (len(smtp.sessions), mailer.pool.opened) == (1, 1)

    smtp.drop_connections()  # the server hangs up the kept connection while it idles
    await local.publish("application.registered", registered("SQ-2026-000824"))
    await local.run()

    assert len(smtp.received) == 4
    assert mailer.pool.opened == 2
    email = local.jobs_of("SQ-2026-000824")[0]
    assert (email.state, email.attempts) == ("sent", 1)  # replaced before anything went out
    await mailer.aclose()


async def test_one_http_connection_pool_serves_every_sms_until_it_is_closed(
    smtp: SmtpServer, gateway: Gateway
) -> None:
    mailer, sms = real_providers(smtp, gateway)
    local = LocalNotifier(mailer, sms)
    await local.publish("application.registered", registered(A))
    await local.run()
    origin = sms.origin
    await local.publish("application.forwarded", forwarded(A))
    await local.run()

    assert sms.origin is origin
    assert len(gateway.accepted) == 2
    assert origin.kept == 1  # the second SMS went over the first one's connection
    await sms.aclose()
    assert origin.kept == 0
    await mailer.aclose()


async def test_a_finished_step_makes_the_next_step_of_its_channel_due_at_once() -> None:
    local = LocalNotifier()
    await local.publish("application.registered", registered(A))
    batch = await local.notifier.claim_due(10)  # the registration's two jobs go out ...
    await local.publish("application.forwarded", forwarded(A))
    await local.deliver_due()  # ... and the next step is put behind them, not polled
    behind = [job for job in local.jobs_of(A) if job.event == "application.forwarded"]
    assert {job.state for job in behind} == {"pending"}
    assert all(str(job.next_attempt_at) > str(local.clock.now) for job in behind)

    for claimed in batch.claimed:
        await local.notifier.attempt(claimed)

    # Due now, with the clock where it was: the next round sends them.
    assert len(await local.notifier.due(10)) == 2
    assert await local.deliver_due() == 2
    assert [job.state for job in local.jobs_of(A)] == ["sent"] * 4


@pytest.fixture
async def mongo_db(mongo_url: str) -> AsyncIterator[Any]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    yield db
    await client.drop_database(db.name)
    await client.close()


async def test_the_due_jobs_query_is_a_range_scan_of_the_due_index(mongo_db: Any) -> None:
    store = MongoNotifierStore(mongo_db)
    await store.ensure_indexes()
    query = due_query("2026-11-27T08:00:00.000Z")
    assert list(query) == ["due_at"]  # one indexed field, nothing else to filter on
    plan = await mongo_db.command(
        {"explain": {"find": "notifications", "filter": query, "sort": {"due_at": 1}}}
    )
    winning = str(plan["queryPlanner"]["winningPlan"])
    if "IXSCAN" in winning or "COLLSCAN" in winning:  # MongoDB
        assert "COLLSCAN" not in winning
        assert "due_at_1" in winning
    else:  # the embedded server explains with SQLite's plan of the same filter
        assert "USING INDEX idx_notifications_due_at" in winning
        assert "SCAN notifications" not in winning


class Commands(monitoring.CommandListener):
    """Counts the commands a client sends: one database round trip each."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in {"createIndexes", "endSessions", "drop", "dropDatabase"}:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Watched:
    """A notifier whose store's client hands every command it sends to ``commands``."""

    commands: Commands
    store: MongoNotifierStore
    local: LocalNotifier


@pytest.fixture
async def watched(mongo_url: str) -> AsyncIterator[Watched]:
    commands = Commands()
    client: Any = AsyncMongoClient(mongo_url, event_listeners=[commands], tz_aware=True)
    db = client[f"t{uuid.uuid4().hex[:10]}_notifier"]
    store = MongoNotifierStore(db, Outbox(RecordingMessenger()))
    await store.ensure_indexes()
    local = LocalNotifier()
    local.notifier.store = store
    commands.names.clear()
    try:
        yield Watched(commands, store, local)
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_round_trips_per_notification_stay_few(watched: Watched) -> None:
    """Ten applications, each step recorded and then sent in one round before the next one
    comes (the quiet case: rounds of two jobs). The same run before pooled claims, cached
    contacts, chained steps and batched outbox removal: 7.3 per notification; now 3.6."""
    store, local = watched.store, watched.local
    numbers = [f"SQ-2026-{830 + n:06d}" for n in range(10)]
    for number in numbers:
        for key, body in (
            ("application.registered", registered(number)),
            ("application.forwarded", forwarded(number)),
            ("application.completed", completed(number)),
        ):
            await local.publish(key, body)
            assert await local.deliver_due() == 2  # one round: the step's two jobs
    await store.aclose()
    sent = len(watched.commands.names)
    stored = await store.jobs([job_id for number in numbers for job_id in all_ids(number)])

    assert [job.state for job in stored] == ["sent"] * 60
    per_notification = sent / 60
    print(f"database round trips per notification: {per_notification:.2f}")
    assert per_notification <= 4.0


async def test_another_instances_sender_reads_a_steps_lane_and_its_contact_in_one_find(
    watched: Watched,
) -> None:
    """A sender that neither recorded an application's registration nor sent its earlier
    steps reads the step's lane and the contact (kept in the registration's jobs, which are
    in that lane) with one command."""
    store, local = watched.store, watched.local
    await local.publish("application.registered", registered(A))
    assert await local.deliver_due() == 2
    await local.publish("application.forwarded", forwarded(A))
    other = Notifier(store, local.mailer, local.sms, local.notifier.policy, local.clock)
    await store.aclose()  # the first step's published outcomes taken out now
    watched.commands.names.clear()
    batch = await other.claim_due(10)
    sent = list(watched.commands.names)

    assert [claimed.job.event for claimed in batch.claimed] == ["application.forwarded"] * 2
    assert {claimed.contact.phone for claimed in batch.claimed} == {"+994501234567"}
    # The due jobs, then the lanes with the contact; then the claims.
    assert sent == ["find", "find", "update"]


async def test_two_senders_on_one_delivery_log_never_send_a_notification_twice(
    any_store: Any,
) -> None:
    mailer, sms = FakeProvider(), FakeProvider()
    policy = RetryPolicy(base=0.05, cap=0.2, order_recheck=0.5)
    first, second = (Notifier(any_store, mailer, sms, policy) for _ in range(2))
    senders = [Sender(notifier, interval=0.02, concurrency=4) for notifier in (first, second)]
    numbers = [f"SQ-2026-{850 + n:06d}" for n in range(12)]
    tasks = [asyncio.create_task(sender.run()) for sender in senders]
    try:
        for index, number in enumerate(numbers):
            await record((first, second)[index % 2], number)
            for sender in senders:
                sender.wake()
        await wait_until(lambda: len(mailer.tried) + len(sms.tried) >= 72, "72 sent", 30)
        await wait_until(lambda: not any(s._inflight for s in senders), "outcomes stored")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    references = [message.reference for message in mailer.tried + sms.tried]
    assert len(references) == len(set(references)) == 72
    stored = await any_store.jobs([job_id for n in numbers for job_id in all_ids(n)])
    assert {(job.state, job.attempts) for job in stored} == {("sent", 1)}
    # Both took part: the second instance is not idle while the first one works.
    assert all(sender.started > 0 for sender in senders)
