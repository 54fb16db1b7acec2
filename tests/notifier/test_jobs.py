"""Notification jobs: growing retry pauses, a bounded number of attempts, outcomes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from services.notifier.domain import jobs, rounds
from services.notifier.domain.steps import StepEvent
from shared.clock import stamp
from shared.contracts.events import event_body
from shared.messaging import to_json

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POLICY = jobs.RetryPolicy(base=10, cap=1800, max_attempts=56)


def sms_job(contact_known: bool = True) -> jobs.Job:
    step = StepEvent("application.forwarded", "SQ-2026-000001")
    return next(job for job in jobs.new_jobs(step, NOW, contact_known) if job.channel == "sms")


def test_a_step_makes_one_job_per_channel_keyed_by_application_event_and_channel() -> None:
    made = jobs.new_jobs(StepEvent("application.forwarded", "SQ-2026-000001"), NOW, True)
    assert [job.id for job in made] == [
        "SQ-2026-000001:application.forwarded:email",
        "SQ-2026-000001:application.forwarded:sms",
    ]
    assert all(job.state == "pending" for job in made)


def test_a_step_before_its_registration_waits_for_the_contact() -> None:
    assert sms_job(contact_known=False).state == "waiting"


def test_retry_pauses_grow_and_are_capped() -> None:
    delays = [POLICY.delay(attempt) for attempt in range(1, 12)]
    assert delays[:4] == [10, 20, 40, 80]
    assert delays == sorted(delays)
    assert max(delays) == 1800


def test_the_default_attempts_retry_for_about_a_day() -> None:
    total = sum(POLICY.delay(attempt) for attempt in range(1, POLICY.max_attempts))
    assert timedelta(hours=23) < timedelta(seconds=total) < timedelta(hours=26)


def test_a_transient_failure_is_due_again_after_the_pause() -> None:
    taken = jobs.claimed(sms_job(), NOW, POLICY)
    assert taken.state == "sending"
    assert taken.attempts == 1
    later = jobs.retry_later(taken, NOW, "gateway answered 503", POLICY)
    assert later.state == "pending"
    assert later.next_attempt_at == stamp(NOW + timedelta(seconds=10))
    assert later.version == taken.version + 1
    assert not jobs.gives_up(later, POLICY)


def test_the_last_allowed_attempt_gives_up() -> None:
    job = dataclasses.replace(sms_job(), attempts=POLICY.max_attempts - 1)
    assert jobs.gives_up(jobs.claimed(job, NOW, POLICY), POLICY)


def test_a_finished_job_reports_its_outcome() -> None:
    taken = jobs.claimed(sms_job(), NOW, POLICY)
    sent = jobs.finished(taken, NOW, receipt="gw-1")
    assert sent.next_attempt_at is None
    delivered = jobs.outcome_event(sent, NOW)
    assert (delivered.routing_key, event_body(delivered)) == (
        "notification.delivered",
        {
            "application_number": "SQ-2026-000001",
            "occurred_at": "2026-11-27T12:00:00.000+04:00",
            "event": "application.forwarded",
            "channel": "sms",
            "attempts": 1,
        },
    )
    failed = jobs.finished(taken, NOW, error="gateway answered 400")
    outcome = jobs.outcome_event(failed, NOW)
    key, body = outcome.routing_key, event_body(outcome)
    assert key == "notification.failed"
    assert body["error"] == "gateway answered 400"


def test_the_outcome_bodies_go_on_the_wire_byte_for_byte_as_before() -> None:
    taken = jobs.claimed(sms_job(), NOW, POLICY)
    failed = jobs.finished(taken, NOW, error="gateway answered 400 (permanent)")
    assert to_json(event_body(jobs.outcome_event(failed, NOW))) == (
        b'{"application_number":"SQ-2026-000001","occurred_at":"2026-11-27T12:00:00.000+04:00",'
        b'"event":"application.forwarded","channel":"sms","attempts":1,'
        b'"error":"gateway answered 400 (permanent)"}'
    )
    never = jobs.finished(sms_job(contact_known=False), NOW, error="no contact")
    assert event_body(jobs.outcome_event(never, NOW))["attempts"] == 0


def test_a_job_waiting_for_its_contact_looks_again_and_gives_up_after_the_wait() -> None:
    waiting = sms_job(contact_known=False)
    # Soon while the registration may be a moment behind, then every ``contact_recheck``.
    for waited, pause in [(0, 1), (1, 1), (10, 5), (59, 29.5), (60, 30), (3600, 30)]:
        now = NOW + timedelta(seconds=waited)
        again = jobs.still_waiting(waiting, now, POLICY)
        assert again.state == "waiting"
        assert again.next_attempt_at == stamp(now + timedelta(seconds=pause)), waited
    quick = dataclasses.replace(POLICY, contact_recheck=0.05)
    assert jobs.still_waiting(waiting, NOW, quick).next_attempt_at == stamp(
        NOW + timedelta(seconds=0.05)
    )
    assert not jobs.contact_overdue(waiting, NOW + timedelta(days=6), POLICY)
    assert jobs.contact_overdue(waiting, NOW + timedelta(days=7, seconds=1), POLICY)


def test_a_later_step_waits_for_an_earlier_one_at_least_until_that_one_is_due() -> None:
    earlier = jobs.retry_later(jobs.claimed(sms_job(), NOW, POLICY), NOW, "503", POLICY)
    assert jobs.after(earlier, NOW, 1.0) == stamp(NOW + timedelta(seconds=10))
    sending = jobs.claimed(sms_job(), NOW, POLICY)
    assert jobs.after(sending, NOW, 1.0) == stamp(NOW + timedelta(seconds=1))
    later = jobs.deferred(sms_job(), NOW, "2026-11-27T08:00:10.000Z")
    assert later.next_attempt_at == "2026-11-27T08:00:10.000Z"
    assert later.version == 2


def test_a_round_takes_the_earliest_due_step_of_a_lane_before_a_later_one() -> None:
    def job(number: str, key: str, channel: str) -> jobs.Job:
        made = jobs.new_jobs(StepEvent(key, number), NOW, True)
        return next(job for job in made if job.channel == channel)

    a, b = "SQ-2026-000001", "SQ-2026-000002"
    reg, fwd, done = (
        job(a, key, "email")
        for key in ("application.registered", "application.forwarded", "application.completed")
    )
    other = job(b, "application.forwarded", "sms")
    window = [reg, other, fwd, done]

    assert rounds.earliest_first([fwd, done], window) == [reg, fwd]
    assert rounds.earliest_first([done, other], window) == [reg, other]
    assert rounds.earliest_first([reg, fwd], window) == [reg, fwd]
    assert rounds.earliest_first([other], [other]) == [other]
