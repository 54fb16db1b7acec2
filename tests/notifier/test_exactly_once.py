"""Exactly once under failures (docs/reliability.md): a message handed to SMTP or the
gateway is never sent again because its outcome could not be stored. The SMTP client waits
for the end of data as RFC 5321 says; an outcome the store refuses is retried in place; a
database outage loses nothing and repeats nothing. Only a sender that dies between the
hand-off and the store repeats a message, and then with the same Message-ID / reference.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from services.notifier.adapters.email import SmtpMailer
from services.notifier.background import Sender
from services.notifier.domain.jobs import RetryPolicy
from services.notifier.domain.providers import Mail, Sms
from services.notifier.usecases import Notifier
from shared.contracts.reading import read_event
from tests.notifier.conftest import SENDER, completed, forwarded, registered
from tests.notifier.fakes import FakeProvider
from tests.notifier.flaky import FlakyStore
from tests.notifier.inprocess import POLICY, LocalNotifier
from tests.notifier.servers import SmtpServer, wait_until

A = "SQ-2026-000601"
QUICK = dataclasses.replace(POLICY, store_base=0.01, store_cap=0.04)


# --- the SMTP end of data -------------------------------------------------------------------


def patient_mailer(smtp: SmtpServer, *, timeout: float, data_timeout: float) -> SmtpMailer:
    return SmtpMailer(
        host="127.0.0.1", port=smtp.port, sender=SENDER, timeout=timeout, data_timeout=data_timeout
    )


async def test_a_server_answering_the_end_of_data_after_the_smtp_timeout_gets_the_mail_once(
    smtp: SmtpServer,
) -> None:
    smtp.data_delay = 1.5  # three times SMTP_TIMEOUT: it has the message, it answers late
    local = LocalNotifier(mailer=patient_mailer(smtp, timeout=0.5, data_timeout=5.0))
    await local.publish("application.registered", registered(A))

    await local.wait_for("notification.delivered", 2)

    assert len(smtp.received) == 1
    email = local.jobs_of(A)[0]
    assert (email.state, email.attempts) == ("sent", 1)


async def test_every_other_smtp_command_keeps_the_smtp_timeout(smtp: SmtpServer) -> None:
    # Before the data: nothing was handed over, so it is retried. (SMTP_TIMEOUT is half a
    # second, not less: on a loaded machine every other command must still fit in it.)
    smtp.rcpt_delay = 1.5
    local = LocalNotifier(mailer=patient_mailer(smtp, timeout=0.5, data_timeout=5.0))
    await local.publish("application.registered", registered(A))
    await local.deliver_due()

    email = local.jobs_of(A)[0]
    assert (email.state, email.attempts) == ("pending", 1)
    assert "SMTPReadTimeoutError" in str(email.last_error)
    assert smtp.received == []
    smtp.rcpt_delay = 0.0
    await local.run()
    assert len(smtp.received) == 1


# --- the outcome is stored in place ------------------------------------------------------------


@pytest.fixture
def pauses() -> list[float]:
    return []


@pytest.fixture
def flaky_local(pauses: list[float]) -> tuple[LocalNotifier, FlakyStore]:
    local = LocalNotifier(policy=QUICK)
    flaky = FlakyStore(local.store)
    local.notifier.store = flaky

    async def pause(seconds: float) -> None:  # the pauses the sender takes, not waited
        pauses.append(seconds)
        await asyncio.sleep(0)

    local.notifier.sleep = pause
    return local, flaky


async def test_an_outcome_the_store_refuses_after_a_send_is_retried_until_stored_never_resent(
    flaky_local: tuple[LocalNotifier, FlakyStore], pauses: list[float]
) -> None:
    local, flaky = flaky_local
    await local.publish("application.registered", registered(A))
    flaky.refuse_saves = 6  # the database is unreachable for the next six writes

    await local.run()

    mailer, sms = local.mailer, local.sms
    assert isinstance(mailer, FakeProvider)
    assert isinstance(sms, FakeProvider)
    assert (len(mailer.tried), len(sms.tried)) == (1, 1)
    assert [(job.state, job.attempts) for job in local.jobs_of(A)] == [("sent", 1), ("sent", 1)]
    assert len(local.bodies("notification.delivered")) == 2
    assert flaky.calls["save_and_publish"] == 8
    # The e-mail's outcome met the outage (the SMS came after): capped backoff, in place.
    assert pauses == [0.01, 0.02, 0.04, 0.04, 0.04, 0.04]


async def test_an_outcome_stored_whose_answer_was_lost_is_recognised_not_resent(
    flaky_local: tuple[LocalNotifier, FlakyStore],
) -> None:
    local, flaky = flaky_local
    await local.publish("application.registered", registered(A))
    flaky.lose_saves = 2  # written, but the answer never came back

    await local.run()

    sms = local.sms
    assert isinstance(sms, FakeProvider)
    assert len(sms.tried) == 1
    assert [job.state for job in local.jobs_of(A)] == ["sent", "sent"]
    assert len(local.bodies("notification.delivered")) == 2


async def test_an_outcome_write_the_database_never_answers_is_given_up_and_retried(
    flaky_local: tuple[LocalNotifier, FlakyStore],
) -> None:
    local, flaky = flaky_local
    local.notifier.policy = dataclasses.replace(QUICK, store_wait=0.05)
    await local.publish("application.registered", registered(A))
    flaky.hang_saves = 1

    await local.run()

    sms = local.sms
    assert isinstance(sms, FakeProvider)
    assert len(sms.tried) == 1
    assert [job.state for job in local.jobs_of(A)] == ["sent", "sent"]
    assert flaky.calls["save_and_publish"] == 3


async def test_a_sender_dying_between_hand_off_and_store_repeats_the_message_with_its_reference(
    flaky_local: tuple[LocalNotifier, FlakyStore],
) -> None:
    # The one window left: the message went out, the process died before the outcome
    # was stored. The job's lease brings it back; the repeat carries the same reference.
    local, flaky = flaky_local
    sms = local.sms
    assert isinstance(sms, FakeProvider)
    await local.publish("application.registered", registered(A))
    [_, sms_job] = await local.notifier.due(10)
    [claimed], _ = await local.notifier.claim([sms_job])
    flaky.down = True  # nothing is stored any more after the hand-off ...
    attempt = asyncio.create_task(local.notifier.attempt(claimed))
    await wait_until(lambda: len(sms.taken) == 1, "the hand-off")
    attempt.cancel()  # ... and the process dies
    await asyncio.gather(attempt, return_exceptions=True)
    flaky.down = False

    local.clock.advance(QUICK.lease)
    await local.run()

    assert [message.reference for message in sms.taken] == [f"{A}:application.registered:sms"] * 2
    assert [job.state for job in local.jobs_of(A)] == ["sent", "sent"]


# --- a database outage while the sender runs -------------------------------------------------


@dataclasses.dataclass
class Breaking(FakeProvider):
    """Takes every message; on the ``at``-th it makes the database go away for a while."""

    store: FlakyStore | None = None
    at: int = 5
    outage: float = 0.3

    async def send(self, message: Mail | Sms) -> str | None:
        receipt = await super().send(message)
        if len(self.taken) == self.at and self.store is not None:
            self.store.down = True
            asyncio.get_running_loop().call_later(self.outage, setattr, self.store, "down", False)
        await asyncio.sleep(0.005)
        return receipt


async def record(notifier: Notifier, number: str) -> None:
    """The steps of one application, each retried while the store is down (as the
    consumer's outage retry does)."""
    for key, body in (
        ("application.registered", registered(number)),
        ("application.forwarded", forwarded(number)),
        ("application.completed", completed(number)),
    ):
        event = read_event(key, body)
        assert event is not None
        while True:
            try:
                await notifier.record(event, f"c-{number}")
                break
            except Exception:
                await asyncio.sleep(0.01)


async def test_a_database_outage_while_sending_loses_nothing_and_sends_nothing_twice(
    any_store: Any,
) -> None:
    flaky = FlakyStore(any_store)
    mailer, sms = Breaking(store=flaky, at=5), Breaking(store=flaky, at=9)
    policy = RetryPolicy(base=0.05, cap=0.2, store_base=0.02, store_cap=0.1, order_recheck=0.5)
    notifier = Notifier(flaky, mailer, sms, policy)
    sender = Sender(notifier, interval=0.05, concurrency=8, outage_cap=0.1)
    numbers = [f"SQ-2026-{700 + n:06d}" for n in range(8)]
    task = asyncio.create_task(sender.run())
    try:
        for number in numbers:
            await record(notifier, number)
            sender.wake()
        await wait_until(lambda: len(mailer.taken) + len(sms.taken) >= 48, "48 sent", 30)
        await wait_until(lambda: not sender._inflight, "the last outcomes stored", 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert flaky.failed > 0  # the outage hit the sender and the outcomes it was storing
    references = [message.reference for message in mailer.taken + sms.taken]
    assert len(references) == len(set(references)) == 48
    stored = await any_store.jobs([job_id for n in numbers for job_id in all_ids(n)])
    assert len(stored) == 48
    assert {job.state for job in stored} == {"sent"}
    assert {job.attempts for job in stored} == {1}


async def run_until_sent(sender: Sender, count: int, *providers: FakeProvider) -> None:
    """Run ``sender`` until ``providers`` took ``count`` messages and every outcome is stored."""

    def taken() -> int:
        return sum(len(provider.taken) for provider in providers)

    task = asyncio.create_task(sender.run())
    try:
        await wait_until(lambda: taken() >= count, f"{count} sent", 15)
        await wait_until(lambda: not sender._inflight, "the last outcomes stored", 10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_claims_written_whose_answer_was_lost_are_sent_at_once_not_after_their_lease(
    any_store: Any,
) -> None:
    """The database went away after writing a round's claims and before answering: the
    sender's next round releases them (the lease, 30 minutes, would hold them otherwise)."""
    flaky = FlakyStore(any_store)
    mailer, sms = FakeProvider(), FakeProvider()
    policy = RetryPolicy(base=0.05, cap=0.2, store_base=0.02, store_cap=0.1, order_recheck=0.5)
    assert policy.lease >= 1800
    notifier = Notifier(flaky, mailer, sms, policy)
    numbers = [f"SQ-2026-{720 + n:06d}" for n in range(3)]
    for number in numbers:
        await record(notifier, number)
    flaky.lose_claims = 1
    sender = Sender(notifier, interval=0.05, concurrency=8, outage_cap=0.1)
    await run_until_sent(sender, 18, mailer, sms)

    assert flaky.lose_claims == 0  # the claim's answer was lost ...
    assert flaky.calls["release_own"] >= 1  # ... and the next round released it
    references = [message.reference for message in mailer.taken + sms.taken]
    assert len(references) == len(set(references)) == 18
    stored = await any_store.jobs([job_id for n in numbers for job_id in all_ids(n)])
    assert {job.state for job in stored} == {"sent"}
    assert {job.attempts for job in stored} == {1}


async def test_a_claim_of_this_sender_that_nobody_sends_is_released_by_the_sweep(
    any_store: Any,
) -> None:
    """A round given up whose claims the server applied afterwards: no round failed after
    them, so only the periodic sweep finds them."""
    mailer, sms = FakeProvider(), FakeProvider()
    policy = RetryPolicy(base=0.05, cap=0.2, store_base=0.02, store_cap=0.1, order_recheck=0.5)
    notifier = Notifier(any_store, mailer, sms, policy)
    number = "SQ-2026-000730"
    await record(notifier, number)
    orphans = await notifier.due(10)
    claimed, _ = await notifier.claim(orphans)  # claimed, never started
    # All six: the later steps claimed to go after the earlier ones of their channel.
    assert [c.after is None for c in claimed] == [True, True, False, False, False, False]
    await run_until_sent(Sender(notifier, interval=0.05, concurrency=8, sweep=0.2), 6, mailer, sms)

    references = [message.reference for message in mailer.taken + sms.taken]
    assert len(references) == len(set(references)) == 6
    stored = await any_store.jobs(all_ids(number))
    assert {(job.state, job.attempts) for job in stored} == {("sent", 1)}


def all_ids(number: str) -> list[str]:
    return [
        f"{number}:application.{step}:{channel}"
        for step in ("registered", "forwarded", "completed")
        for channel in ("email", "sms")
    ]
