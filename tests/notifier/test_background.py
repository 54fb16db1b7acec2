"""The sender loop with the in-memory store: woken by new jobs, bounded concurrency, a slow
provider holding up nobody, and attempts under way finishing on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import pytest

from services.notifier.background import Liveness, Sender
from services.notifier.domain.jobs import Job
from services.notifier.domain.providers import Mail, Sms
from tests.notifier.conftest import forwarded, registered
from tests.notifier.fakes import FakeProvider, transient
from tests.notifier.inprocess import POLICY, LocalNotifier
from tests.notifier.servers import wait_until


@dataclass
class GatedProvider(FakeProvider):
    """Holds every message until ``gate`` opens; ``started`` counts the sends under way."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0

    async def send(self, message: Mail | Sms) -> str | None:
        self.started += 1
        await self.gate.wait()
        return await super().send(message)


@contextlib.asynccontextmanager
async def running(sender: Sender) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(sender.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def numbers(count: int) -> list[str]:
    return [f"SQ-2026-{500 + n:06d}" for n in range(count)]


async def test_recorded_jobs_wake_the_sender_before_its_next_poll() -> None:
    local = LocalNotifier()
    sender = Sender(local.notifier, interval=60.0)
    async with running(sender):
        await asyncio.sleep(0.05)  # the first (empty) round is over: it now sleeps 60 s
        await local.publish("application.registered", registered("SQ-2026-000501"))
        sender.wake()
        await wait_until(lambda: len(local.store.published) == 2, "both sent", timeout=5)


def counting_polls(local: LocalNotifier) -> list[str]:
    """The times ``local``'s store was asked for due jobs."""
    polls: list[str] = []
    due = local.store.due

    async def counted(at: str, limit: int, busy: Collection[str]) -> list[Job]:
        polls.append(at)
        return await due(at, limit, busy)

    local.store.due = counted  # type: ignore[method-assign]
    return polls


async def test_jobs_recorded_here_are_claimed_without_looking_for_due_jobs() -> None:
    local = LocalNotifier()
    polls = counting_polls(local)
    sender = Sender(local.notifier, interval=60.0)
    async with running(sender):
        await wait_until(lambda: len(polls) == 1, "the first round's poll", timeout=5)
        for number in numbers(3):
            await local.publish("application.registered", registered(number))
            sender.wake()
            await local.publish("application.forwarded", forwarded(number))
            sender.wake()
        await wait_until(lambda: len(local.store.published) == 12, "all sent", timeout=5)
        await asyncio.sleep(0.05)  # the rounds after the last attempts ended
    assert len(polls) == 1, "no poll after the first: every job was handed over"
    assert local.notifier.fresh == {}


async def test_a_step_woken_by_the_finished_step_it_waited_for_is_found_at_once() -> None:
    """Put behind an e-mail by another round, the next step is made due in the database
    when that e-mail is sent: the sender looks for it then, not at its next poll."""
    mailer = GatedProvider()
    local = LocalNotifier(mailer=mailer)
    number = "SQ-2026-000603"
    await local.publish("application.registered", registered(number))
    sender = Sender(local.notifier, interval=60.0)
    async with running(sender):
        await wait_until(lambda: mailer.started == 1, "the first e-mail under way", timeout=5)
        await local.publish("application.forwarded", forwarded(number))
        other_round = await local.notifier.claim_fresh(10)  # not this sender's: it waits
        for claimed in other_round.claimed:  # the SMS, whose earlier step is sent
            await local.notifier.attempt(claimed)
        assert local.store.followers == {
            f"{number}:application.registered:email": {f"{number}:application.forwarded:email"}
        }
        mailer.gate.set()
        await wait_until(lambda: len(mailer.taken) == 2, "the next e-mail too", timeout=5)
    assert [mail.reference.split(":")[1] for mail in mailer.mails()] == [
        "application.registered",
        "application.forwarded",
    ]


async def test_no_more_attempts_are_under_way_than_the_concurrency_allows() -> None:
    mailer = GatedProvider()
    local = LocalNotifier(mailer=mailer)
    for number in numbers(5):
        await local.publish("application.registered", registered(number))
    sender = Sender(local.notifier, interval=0.01, concurrency=3)
    async with running(sender):
        # Two SMS go quickly; of the e-mails no more than the room left waits at the gate.
        await wait_until(lambda: mailer.started == 3, "three sends under way", timeout=5)
        await asyncio.sleep(0.1)
        assert mailer.started == 3
        mailer.gate.set()
        await wait_until(lambda: len(local.store.published) == 10, "all sent", timeout=5)
    assert len(mailer.taken) == 5


async def test_a_slow_provider_holds_up_neither_the_other_channel_nor_other_jobs() -> None:
    mailer = GatedProvider()
    local = LocalNotifier(mailer=mailer)
    for number in numbers(3):
        await local.publish("application.registered", registered(number))
    sms = local.sms
    assert isinstance(sms, FakeProvider)
    sender = Sender(local.notifier, interval=0.01)
    async with running(sender):
        await wait_until(lambda: len(sms.taken) == 3, "the SMS", timeout=5)
        assert mailer.taken == []
        mailer.gate.set()
        await wait_until(lambda: len(mailer.taken) == 3, "the e-mails", timeout=5)


@pytest.mark.parametrize(("graceful", "finished"), [(5.0, True), (0.05, False)])
async def test_on_shutdown_attempts_under_way_get_the_graceful_time_to_finish(
    graceful: float, finished: bool
) -> None:
    mailer = GatedProvider()
    local = LocalNotifier(mailer=mailer)
    number = "SQ-2026-000501"
    await local.publish("application.registered", registered(number))
    sender = Sender(local.notifier, interval=0.01, graceful=graceful)
    task = asyncio.create_task(sender.run())
    await wait_until(lambda: mailer.started == 1, "the e-mail under way", timeout=5)

    task.cancel()
    await asyncio.sleep(0.2)
    mailer.gate.set()  # the server answers after a while
    await asyncio.gather(task, return_exceptions=True)

    email = local.jobs_of(number)[0]
    if finished:
        assert email.state == "sent"
        assert len(mailer.taken) == 1
    else:  # cut off: due again at once, for another sender, its attempt counted
        assert (email.state, email.attempts) == ("sending", 1)
        assert mailer.taken == []
        assert [job.id for job in await local.notifier.due(10)] == [email.id]


async def test_on_shutdown_the_claims_of_an_interrupted_round_are_due_again_at_once() -> None:
    """A round stopped by the shutdown after its claims were written: nothing is under way,
    yet the jobs are this sender's; they go to another sender at once, not after its mark."""
    local = LocalNotifier()
    number = "SQ-2026-000502"
    await local.publish("application.registered", registered(number))
    claimed, _ = await local.notifier.claim(await local.notifier.due(10))
    assert len(claimed) == 2
    assert await local.notifier.due(10) == []  # held by their lease
    sender = Sender(local.notifier, interval=0.01, sweep=1000)
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    again = await local.notifier.due(10)
    assert sorted(job.id for job in again) == sorted(job.job.id for job in claimed)
    assert {job.attempts for job in again} == {1}


@dataclass
class FailingOnceProvider(GatedProvider):
    """Gated like ``GatedProvider``; the first message fails (to be retried)."""

    failed: int = 0

    async def send(self, message: Mail | Sms) -> str | None:
        self.started += 1
        await self.gate.wait()
        if not self.failed:
            self.failed += 1
            self.tried.append(message)
            raise transient()
        return await FakeProvider.send(self, message)


async def claim_the_next_step_while_the_first_is_sent(
    local: LocalNotifier, sender: Sender, mailer: GatedProvider, number: str
) -> None:
    """The registration's e-mail held at the gate; the forwarding recorded and claimed."""
    await wait_until(lambda: mailer.started == 1, "the first e-mail under way", timeout=5)
    await local.publish("application.forwarded", forwarded(number))
    sender.wake()
    await wait_until(lambda: len(sender._inflight) == 2, "the next e-mail claimed", timeout=5)


async def test_a_step_recorded_while_its_earlier_step_is_sent_here_goes_right_after_it() -> None:
    mailer = GatedProvider()
    local = LocalNotifier(mailer=mailer)
    number = "SQ-2026-000601"
    await local.publish("application.registered", registered(number))
    sender = Sender(local.notifier, interval=60.0)
    async with running(sender):
        # Claimed by this sender to go after the e-mail under way: not put behind it.
        await claim_the_next_step_while_the_first_is_sent(local, sender, mailer, number)
        later = local.store.jobs_by_id[f"{number}:application.forwarded:email"]
        assert (later.state, later.attempts) == ("sending", 1)
        assert local.store.followers == {}  # no note on the earlier job
        assert mailer.started == 1  # it waits for the earlier one's outcome
        mailer.gate.set()
        await wait_until(lambda: len(mailer.taken) == 2, "both e-mails", timeout=5)
    assert [mail.reference.split(":")[1] for mail in mailer.mails()] == [
        "application.registered",
        "application.forwarded",
    ]
    assert sender.started == 4


async def test_a_step_claimed_after_one_that_fails_is_given_back_and_goes_after_its_retry() -> None:
    mailer = FailingOnceProvider()
    local = LocalNotifier(mailer=mailer)
    number = "SQ-2026-000602"
    await local.publish("application.registered", registered(number))
    sender = Sender(local.notifier, interval=0.02)
    async with running(sender):
        await claim_the_next_step_while_the_first_is_sent(local, sender, mailer, number)
        mailer.gate.set()
        later_id = f"{number}:application.forwarded:email"
        await wait_until(
            lambda: local.store.jobs_by_id[later_id].state == "pending", "claim given back", 5
        )
        assert local.store.jobs_by_id[later_id].attempts == 0  # the claim did not count
        assert len(mailer.tried) == 1  # and it was not sent
        local.clock.advance(POLICY.order_recheck)  # the first one's retry is due
        sender.wake()
        await wait_until(lambda: len(mailer.taken) == 2, "both e-mails", timeout=5)
    # The first failed once; the second was not sent before the first went out.
    assert [mail.reference.split(":")[1] for mail in mailer.tried] == [
        "application.registered",
        "application.registered",
        "application.forwarded",
    ]
    later = local.store.jobs_by_id[f"{number}:application.forwarded:email"]
    assert (later.state, later.attempts) == ("sent", 1)  # the claim given back did not count


async def stops_when_cancelled(task: asyncio.Task[None]) -> bool:
    """Cancel ``task`` and whether it ended by that cancellation within a second."""
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1.0)
    if not done:  # it swallowed the cancellation: end it for the next test
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False
    return task.cancelled()


@pytest.mark.parametrize("turns", range(6))
async def test_the_sender_stops_when_its_cancellation_comes_with_a_wake_up(turns: int) -> None:
    """Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives as what it waits
    for completes; the sender waits another way, so shutdown never hangs on it, whichever
    turn of the loop the cancellation comes in."""
    local = LocalNotifier()
    sender = Sender(local.notifier, interval=60.0)
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(0.05)  # the first round is over: it waits to be woken
    sender.wake()
    for _ in range(turns):
        await asyncio.sleep(0)
    assert await stops_when_cancelled(task)


@pytest.mark.parametrize("turns", range(6))
async def test_the_mark_of_life_stops_when_its_cancellation_comes_with_a_beat(turns: int) -> None:
    alive = Liveness(LocalNotifier().store, beat=60.0, ttl=30.0)
    task = asyncio.create_task(alive.run())
    for _ in range(turns):
        await asyncio.sleep(0)
    assert await stops_when_cancelled(task)
