"""The notifier's use cases with the in-memory store, fake providers and a manual clock:
recording each step once, the order per channel, retries, permanent failures, giving up,
a contact that arrives late, and jobs whose sender died."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime, timedelta

import pytest

from services.notifier.domain import jobs
from services.notifier.domain.providers import Mail, Sms
from services.notifier.domain.steps import STEPS, Contact
from services.notifier.usecases import Notifier
from shared.clock import stamp
from shared.contracts.reading import MalformedMessage
from tests.notifier.conftest import completed, forwarded, overdue, registered, rejected
from tests.notifier.fakes import FakeProvider, ManualClock, permanent, transient
from tests.notifier.inprocess import POLICY, LocalNotifier

A, B = "SQ-2026-000401", "SQ-2026-000402"
NOW = ManualClock().now
REGISTERED_AZ = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)


@pytest.fixture
def mailer() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sms() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def local(mailer: FakeProvider, sms: FakeProvider) -> LocalNotifier:
    return LocalNotifier(mailer, sms)


def states(local: LocalNotifier, number: str) -> list[tuple[str, str]]:
    return [(job.id.split(":", 1)[1], job.state) for job in local.jobs_of(number)]


# --- recording ----------------------------------------------------------------------------


async def test_a_step_records_one_email_and_one_sms_job_due_at_once(local: LocalNotifier) -> None:
    outcome = await local.publish("application.registered", registered(A), correlation_id="c-1")

    assert outcome.reply is None
    assert outcome.log == {"outcome": "recorded", "step": "application.registered"}
    assert states(local, A) == [
        ("application.registered:email", "pending"),
        ("application.registered:sms", "pending"),
    ]
    assert {job.correlation_id for job in local.jobs_of(A)} == {"c-1"}
    assert [job.id for job in await local.notifier.due(10)] == [
        f"{A}:application.registered:email",
        f"{A}:application.registered:sms",
    ]
    assert local.woken == 1


async def test_a_redelivered_event_records_nothing_new_and_sends_nothing_twice(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A))
    await local.run()
    outcome = await local.publish("application.registered", registered(A))
    await local.run()

    assert outcome.log["outcome"] == "duplicate"
    assert len(local.jobs_of(A)) == 2
    assert (len(mailer.taken), len(sms.taken)) == (1, 1)
    assert len(local.bodies("notification.delivered")) == 2


@pytest.mark.parametrize(
    ("key", "body"),
    [
        (
            "application.assigned",
            {
                "application_number": A,
                "occurred_at": "2026-11-27T10:00:02.000+04:00",
                "sequence": 3,
                "work_order_id": "WO-2026-000001",
                "team_id": "T-01",
            },
        ),
        (
            "notification.delivered",
            {
                "application_number": A,
                "occurred_at": "2026-11-27T10:00:02.000+04:00",
                "event": "application.registered",
                "channel": "sms",
                "attempts": 1,
            },
        ),
        ("application.unheard_of", {"application_number": A}),
    ],
)
async def test_events_the_citizen_is_not_told_of_record_nothing(
    local: LocalNotifier, key: str, body: dict[str, object]
) -> None:
    outcome = await local.publish(key, body)

    assert outcome.log["outcome"] == "ignored"
    assert local.store.jobs_by_id == {}
    assert local.store.contacts_by_number == {}


async def test_an_event_without_what_its_text_needs_is_malformed_and_records_nothing(
    local: LocalNotifier,
) -> None:
    with pytest.raises(MalformedMessage, match="contact"):
        await local.publish("application.registered", {"application_number": A})
    assert local.store.jobs_by_id == {}


# --- sending --------------------------------------------------------------------------------


async def test_a_due_job_is_sent_once_and_its_outcome_published_with_the_steps_correlation(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await local.publish("application.rejected", rejected(A), correlation_id="journey-7")
    await local.publish("application.registered", registered(A), correlation_id="journey-7")
    await local.run()

    assert [m.subject for m in mailer.taken if isinstance(m, Mail)] == [
        f"Müraciət {A}: Qeydiyyata alındı",
        f"Müraciət {A}: İcra edilmədi",
    ]
    [first, second] = [m for m in sms.taken if isinstance(m, Sms)]
    assert (first.to, first.reference) == ("+994501234567", f"{A}:application.registered:sms")
    assert second.text == f"{A} nömrəli müraciətiniz icra edilmədi. Səbəb: sayğac ehtiyatı yoxdur."
    assert states(local, A) == [
        ("application.registered:email", "sent"),
        ("application.registered:sms", "sent"),
        ("application.rejected:email", "sent"),
        ("application.rejected:sms", "sent"),
    ]
    assert [job.receipt for job in local.jobs_of(A)] == [
        "receipt-1",
        "receipt-1",
        "receipt-2",
        "receipt-2",
    ]
    assert {cid for _, cid in local.store.published} == {"journey-7"}
    assert local.bodies("notification.delivered")[0] == {
        "application_number": A,
        "occurred_at": "2026-11-27T12:00:00.000+04:00",
        "event": "application.registered",
        "channel": "email",
        "attempts": 1,
    }


async def test_steps_go_out_in_their_order_on_each_channel(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A))
    await local.publish("application.completed", completed(A))
    await local.publish("application.forwarded", forwarded(A))
    sms.failures.append(transient())  # the registration's SMS has to be tried again

    # Later steps come first in the due list: they are put back until the earlier ones are out.
    for job in reversed(await local.notifier.due(10)):
        await local.notifier.deliver(job)
    await local.run()

    assert sms.texts() == [
        REGISTERED_AZ.format(A),
        f"{A} nömrəli müraciətiniz icraya yönləndirildi.",
        f"{A} nömrəli müraciətiniz icra edildi. Sayğac: WM-77001, akt: AKT-2026-0042.",
    ]
    assert [m.subject for m in mailer.taken if isinstance(m, Mail)] == [
        f"Müraciət {A}: Qeydiyyata alındı",
        f"Müraciət {A}: İcraya yönləndirildi",
        f"Müraciət {A}: İcra edildi",
    ]


async def test_a_failing_channel_holds_up_neither_the_other_channel_nor_other_applications(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    mailer.always = transient("SMTPConnectError: refused")
    await local.publish("application.registered", registered(A))
    await local.publish("application.registered", registered(B, phone="+994551112233"))
    await local.deliver_due()

    assert [m.to for m in sms.taken] == ["+994501234567", "+994551112233"]
    assert {body["channel"] for body in local.bodies("notification.delivered")} == {"sms"}
    email = next(job for job in local.jobs_of(A) if job.channel == "email")
    assert (email.state, email.attempts) == ("pending", 1)
    assert "SMTPConnectError" in str(email.last_error)


# --- failures ---------------------------------------------------------------------------------


async def test_transient_failures_are_retried_with_doubling_pauses_up_to_the_cap(
    mailer: FakeProvider, sms: FakeProvider
) -> None:
    local = LocalNotifier(mailer, sms, dataclasses.replace(POLICY, max_attempts=10))
    sms.failures.extend(transient(f"gateway answered 50{n}") for n in range(5))
    await local.publish("application.registered", registered(A))

    pauses = []
    for _ in range(5):
        await local.deliver_due()
        job = next(job for job in local.jobs_of(A) if job.channel == "sms")
        assert job.state == "pending"
        pauses.append(local_pause(job))
        local.clock.move_to(str(job.next_attempt_at))
    await local.deliver_due()

    assert pauses == pytest.approx([0.05, 0.1, 0.2, 0.2, 0.2], abs=0.0011)
    [delivered] = [b for b in local.bodies("notification.delivered") if b["channel"] == "sms"]
    assert delivered["attempts"] == 6
    assert len(sms.tried) == 6
    assert {message.reference for message in sms.tried} == {f"{A}:application.registered:sms"}
    assert local.bodies("notification.failed") == []


def local_pause(job: jobs.Job) -> float:
    """The pause chosen after the job's last failure, from its stored times."""

    def at(text: str | None) -> float:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()

    return at(job.next_attempt_at) - at(job.updated_at)


async def test_a_permanent_failure_is_reported_at_once_and_never_tried_again(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    sms.always = permanent("gateway answered 400: invalid destination number")
    mailer.failures.append(permanent("recipient refused: 550 5.1.1 No such mailbox"))
    await local.publish("application.registered", registered(A))
    await local.run()

    failed = {body["channel"]: body for body in local.bodies("notification.failed")}
    assert failed["sms"] == {
        "application_number": A,
        "occurred_at": "2026-11-27T12:00:00.000+04:00",
        "event": "application.registered",
        "channel": "sms",
        "attempts": 1,
        "error": "gateway answered 400: invalid destination number (permanent)",
    }
    assert "550" in failed["email"]["error"]
    assert [(job.state, job.attempts, job.next_attempt_at) for job in local.jobs_of(A)] == [
        ("failed", 1, None),
        ("failed", 1, None),
    ]
    local.clock.advance(86400)
    assert await local.deliver_due() == 0
    assert (len(mailer.tried), len(sms.tried)) == (1, 1)


async def test_transient_failures_give_up_after_the_attempt_limit(
    local: LocalNotifier, sms: FakeProvider
) -> None:
    sms.always = transient("gateway answered 502: try again later")
    await local.publish("application.registered", registered(A))
    await local.run()

    [failed] = local.bodies("notification.failed")
    assert failed["channel"] == "sms"
    assert failed["attempts"] == POLICY.max_attempts == 4
    assert failed["error"] == "gateway answered 502: try again later (gave up after 4 attempts)"
    assert len(sms.tried) == 4
    [delivered] = local.bodies("notification.delivered")
    assert delivered["channel"] == "email"


async def test_a_provider_that_raises_unexpectedly_is_retried_like_a_time_out(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    mailer.failures.append(RuntimeError("provider bug"))
    await local.publish("application.registered", registered(A))
    await local.deliver_due()

    email = local.jobs_of(A)[0]
    assert (email.state, email.last_error) == ("pending", "RuntimeError: provider bug")
    await local.run()
    assert [job.state for job in local.jobs_of(A)] == ["sent", "sent"]


# --- the contact ---------------------------------------------------------------------------


async def test_steps_arriving_before_the_registration_wait_and_go_out_in_order_once_it_arrives(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    outcome = await local.publish("application.completed", completed(A))
    await local.publish("application.forwarded", forwarded(A))
    assert outcome.log["outcome"] == "recorded"
    for _ in range(3):
        await local.deliver_due()
        local.clock.advance(POLICY.contact_recheck)
    assert {state for _, state in states(local, A)} == {"waiting"}
    assert mailer.tried == sms.tried == []

    await local.publish("application.registered", registered(A, language="en"))
    await local.run()

    assert sms.texts() == [
        "Your application has been registered. Thank you for using our service. "
        f"Your application number: {A}",
        f"Your application {A} has been forwarded for execution.",
        f"Your application {A} has been completed. Meter: WM-77001, act: AKT-2026-0042.",
    ]
    assert len(mailer.taken) == 3
    assert len(local.bodies("notification.delivered")) == 6


def counting_wake_ups(local: LocalNotifier) -> list[Collection[str]]:
    """The ``make_due`` calls of ``local``'s store, by the ids each named."""
    calls: list[Collection[str]] = []
    make_due = local.store.make_due

    async def counted(ids: Collection[str], state: jobs.State, at: str) -> None:
        calls.append(ids)
        await make_due(ids, state, at)

    local.store.make_due = counted  # type: ignore[method-assign]
    return calls


async def test_a_registration_with_no_step_waiting_for_it_writes_no_wake_up(
    local: LocalNotifier,
) -> None:
    wake_ups = counting_wake_ups(local)
    await local.publish("application.registered", registered(A))
    await local.publish("application.forwarded", forwarded(A))
    await local.run()
    assert wake_ups == []
    assert len(local.bodies("notification.delivered")) == 4


async def test_steps_another_instance_put_to_wait_go_out_soon_after_the_registration(
    mailer: FakeProvider, sms: FakeProvider
) -> None:
    """This instance cannot know of the other's wait: the jobs look again by themselves,
    after a second while the registration may be just behind, not ``contact_recheck``."""
    policy = dataclasses.replace(POLICY, contact_recheck=30.0)
    other = LocalNotifier(mailer, sms, policy)
    this = LocalNotifier(mailer, sms, policy, store=other.store, clock=other.clock)
    await other.publish("application.forwarded", forwarded(A))
    await other.deliver_due()
    assert {state for _, state in states(other, A)} == {"waiting"}
    wake_ups = counting_wake_ups(this)

    await this.publish("application.registered", registered(A, language="en"))
    started = this.clock()
    await this.run()

    assert wake_ups == []
    assert sms.texts() == [
        "Your application has been registered. Thank you for using our service. "
        f"Your application number: {A}",
        f"Your application {A} has been forwarded for execution.",
    ]
    assert this.clock() - started <= timedelta(seconds=1)


async def test_a_registration_recorded_while_its_steps_are_put_to_wait_wakes_them_at_once(
    mailer: FakeProvider, sms: FakeProvider
) -> None:
    local = LocalNotifier(mailer, sms, dataclasses.replace(POLICY, contact_recheck=30.0))
    await local.publish("application.forwarded", forwarded(A))
    replace = local.store.replace
    registering: list[bool] = []

    async def registration_meanwhile(current: jobs.Job, new: jobs.Job) -> bool:
        if new.state == "waiting" and not registering:  # the contact arrives right now
            registering.append(True)
            await local.publish("application.registered", registered(A))
        return await replace(current, new)

    local.store.replace = registration_meanwhile  # type: ignore[method-assign]
    await local.deliver_due()
    assert registering == [True]
    started = local.clock()
    await local.run()

    assert local.clock() == started, "nothing waited for a later look"
    assert len(local.bodies("notification.delivered")) == 4


async def test_a_step_whose_registration_never_arrives_is_reported_failed_after_the_wait(
    mailer: FakeProvider, sms: FakeProvider
) -> None:
    policy = dataclasses.replace(POLICY, contact_wait=60.0, contact_recheck=10.0)
    local = LocalNotifier(mailer, sms, policy)
    await local.publish("application.forwarded", forwarded(A))
    await local.run()

    failed = local.bodies("notification.failed")
    assert [(body["channel"], body["attempts"]) for body in failed] == [("email", 0), ("sms", 0)]
    assert {body["error"] for body in failed} == {
        "no contact: application.registered was never received"
    }
    assert mailer.tried == sms.tried == []
    for job in local.jobs_of(A):  # not before the wait was over
        assert str(job.finished_at) > stamp(NOW + timedelta(seconds=60))


async def test_the_first_registration_gives_the_contact_and_the_language(
    local: LocalNotifier, sms: FakeProvider
) -> None:
    await local.publish(
        "application.registered", registered(A, language="ru", phone="+994702223344")
    )
    await local.publish(
        "application.registered", registered(A, language="en", phone="+994550000000")
    )
    await local.run()

    [message] = sms.taken
    assert message.to == "+994702223344"
    assert message.text.startswith("Ваша заявка зарегистрирована.")


async def test_the_contact_a_registration_stored_is_not_read_back_by_its_senders(
    local: LocalNotifier, sms: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[set[str]] = []
    read = local.store.contacts

    async def counted(numbers: Collection[str]) -> dict[str, Contact]:
        reads.append(set(numbers))
        return await read(numbers)

    monkeypatch.setattr(local.store, "contacts", counted)
    await local.publish("application.registered", registered(A))
    await local.publish("application.forwarded", forwarded(A))
    await local.run()

    assert len(sms.taken) == 2
    assert reads == []
    # A notifier that did not record it (another instance, or after a restart) reads it.
    other = Notifier(local.store, local.mailer, local.sms, POLICY, local.clock)
    assert (await other.claim_due(10)).claimed == []
    await local.publish("application.completed", completed(A))
    assert [claimed.contact.phone for claimed in (await other.claim_due(10)).claimed] == [
        "+994501234567",
        "+994501234567",
    ]
    assert reads == [{A}]


async def test_a_later_step_whose_earlier_steps_this_sender_finished_reads_no_lane(
    local: LocalNotifier, sms: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[set[str]] = []
    read = local.store.jobs

    async def counted(ids: Collection[str]) -> list[jobs.Job]:
        reads.append(set(ids))
        return await read(ids)

    monkeypatch.setattr(local.store, "jobs", counted)
    await local.publish("application.registered", registered(A))
    await local.run()
    await local.publish("application.forwarded", forwarded(A))
    await local.run()
    assert reads == []  # the registration's jobs (place 1) were finished here

    # Place 3 is an overdue, which tells the citizen nothing: not known, so the lane is read.
    await local.publish("application.overdue", overdue(A))
    await local.publish("application.completed", completed(A))
    await local.run()
    assert reads == [
        {
            f"{A}:{key}:{channel}"
            for key in STEPS
            if key != "application.completed"
            for channel in ("email", "sms")
        }
    ]
    assert len(sms.taken) == 3

    # Another sender (another instance, or after a restart) knows none of it: it reads.
    other = Notifier(local.store, local.mailer, local.sms, POLICY, local.clock)
    await local.publish("application.forwarded", {**forwarded(B), "sequence": 2})
    await local.publish("application.registered", registered(B, phone="+994551112233"))
    reads.clear()
    assert len((await other.claim_due(10)).claimed) == 4
    assert len(reads) == 1
    assert f"{B}:application.registered:sms" in reads[0]


# --- senders that die or race -------------------------------------------------------------


async def test_a_job_whose_sender_died_is_taken_back_when_its_lease_runs_out(
    local: LocalNotifier, sms: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A))
    [_, sms_job] = await local.notifier.due(10)
    claimed, _ = await local.notifier.claim([sms_job])
    assert len(claimed) == 1  # ... and the sender dies here

    await local.deliver_due()
    assert sms.tried == []
    local.clock.advance(POLICY.lease)
    await local.deliver_due()

    assert [m.to for m in sms.taken] == ["+994501234567"]
    [sms_outcome] = [b for b in local.bodies("notification.delivered") if b["channel"] == "sms"]
    assert sms_outcome["attempts"] == 2


async def test_of_two_senders_with_the_same_due_job_only_one_sends(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A))
    other = Notifier(local.store, mailer, FakeProvider(), POLICY, local.clock)
    [email, _] = await local.notifier.due(10)

    assert await local.notifier.deliver(email)
    assert not await other.deliver(email)  # its copy is stale
    assert len(mailer.tried) == 1


async def test_a_round_claims_every_due_job_it_has_room_for_in_one_go(
    local: LocalNotifier,
) -> None:
    for number in (A, B):
        await local.publish("application.registered", registered(number))

    batch = await local.notifier.claim_due(3)

    assert len(batch.claimed) == 3
    assert {claimed.job.state for claimed in batch.claimed} == {"sending"}
    assert batch.more  # a fourth job is still due
    assert len(await local.notifier.due(10)) == 1
