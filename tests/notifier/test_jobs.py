"""Notification jobs: growing retry pauses, a bounded number of attempts, outcomes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notifier import jobs
from services.notifier.domain import StepEvent
from shared.clock import stamp

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
POLICY = jobs.RetryPolicy(base=10, cap=1800, max_attempts=56)


def sms_job(contact_known: bool = True) -> dict[str, object]:
    step = StepEvent("application.forwarded", "SQ-2026-000001")
    return next(job for job in jobs.new_jobs(step, NOW, contact_known) if job["channel"] == "sms")


def test_a_step_makes_one_job_per_channel_keyed_by_application_event_and_channel() -> None:
    made = jobs.new_jobs(StepEvent("application.forwarded", "SQ-2026-000001"), NOW, True)
    assert [job["_id"] for job in made] == [
        "SQ-2026-000001:application.forwarded:email",
        "SQ-2026-000001:application.forwarded:sms",
    ]
    assert all(job["state"] == "pending" for job in made)


def test_a_step_before_its_registration_waits_for_the_contact() -> None:
    assert sms_job(contact_known=False)["state"] == "waiting"


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
    assert taken["state"] == "sending"
    assert taken["attempts"] == 1
    later = jobs.retry_later(taken, NOW, "gateway answered 503", POLICY)
    assert later["state"] == "pending"
    assert later["next_attempt_at"] == stamp(NOW + timedelta(seconds=10))
    assert later["version"] == taken["version"] + 1
    assert not jobs.gives_up(later, POLICY)


def test_the_last_allowed_attempt_gives_up() -> None:
    job = {**sms_job(), "attempts": POLICY.max_attempts - 1}
    assert jobs.gives_up(jobs.claimed(job, NOW, POLICY), POLICY)


def test_a_finished_job_reports_its_outcome() -> None:
    taken = jobs.claimed(sms_job(), NOW, POLICY)
    sent = jobs.finished(taken, NOW, receipt="gw-1")
    assert "next_attempt_at" not in sent
    assert jobs.outcome_event(sent, NOW) == (
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
    key, body = jobs.outcome_event(failed, NOW)
    assert key == "notification.failed"
    assert body["error"] == "gateway answered 400"
