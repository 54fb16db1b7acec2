"""Notification jobs: one document per (application, event, channel), and its states (pure).

States: ``waiting`` (the registration with the contact has not arrived yet), ``pending``
(due at ``next_attempt_at``), ``sending`` (claimed by a sender until ``next_attempt_at``,
its lease), then finally ``sent`` or ``failed``. Every change writes the whole document,
guarded by ``version``; times are ``shared.clock.stamp`` text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.notifier.domain import CHANNELS, StepEvent
from shared.clock import iso, stamp
from shared.contracts import routing

FINAL_STATES = ("sent", "failed")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a notification is tried before it is reported failed."""

    base: float = 10.0  # seconds before the first retry; doubles per attempt
    cap: float = 1800.0  # longest pause between attempts
    max_attempts: int = 56  # with the defaults above: about 24 hours of retries
    lease: float = 120.0  # a claimed job is taken back after this (the sender died)
    contact_wait: float = 7 * 86400.0  # how long a step waits for its registration
    contact_recheck: float = 30.0

    def delay(self, attempts: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempts - 1)))


def job_id(number: str, event: str, channel: str) -> str:
    return f"{number}:{event}:{channel}"


def new_jobs(
    step: StepEvent, now: datetime, contact_known: bool, correlation_id: str | None = None
) -> list[dict[str, Any]]:
    """The step's e-mail and SMS jobs, due now (or waiting for the contact).

    ``correlation_id`` is the triggering event's: the outcome events carry it on.
    """
    at = stamp(now)
    return [
        {
            "_id": job_id(step.number, step.key, channel),
            "application_number": step.number,
            "event": step.key,
            "sequence": step.sequence,
            "channel": channel,
            "correlation_id": correlation_id,
            "details": dict(step.details),
            "state": "pending" if contact_known else "waiting",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "updated_at": at,
            "version": 1,
        }
        for channel in CHANNELS
    ]


def _changed(job: dict[str, Any], now: datetime, **fields: Any) -> dict[str, Any]:
    return {**job, **fields, "updated_at": stamp(now), "version": int(job["version"]) + 1}


def claimed(job: dict[str, Any], now: datetime, policy: RetryPolicy) -> dict[str, Any]:
    """The job taken by one sender for one attempt, until its lease runs out."""
    return _changed(
        job,
        now,
        state="sending",
        attempts=int(job.get("attempts", 0)) + 1,
        next_attempt_at=stamp(now + timedelta(seconds=policy.lease)),
    )


def deferred(job: dict[str, Any], now: datetime, until: str) -> dict[str, Any]:
    """Not yet: an earlier step of the application goes first on this channel."""
    return _changed(job, now, next_attempt_at=until)


def after(earlier: dict[str, Any], now: datetime, pause: float) -> str:
    """When to look again at a job that waits for ``earlier`` to finish."""
    soon = stamp(now + timedelta(seconds=pause))
    if earlier["state"] == "pending":
        return max(str(earlier["next_attempt_at"]), soon)
    return soon


def still_waiting(job: dict[str, Any], now: datetime, policy: RetryPolicy) -> dict[str, Any]:
    later = now + timedelta(seconds=policy.contact_recheck)
    return _changed(job, now, state="waiting", next_attempt_at=stamp(later))


def contact_overdue(job: dict[str, Any], now: datetime, policy: RetryPolicy) -> bool:
    return str(job["created_at"]) < stamp(now - timedelta(seconds=policy.contact_wait))


def retry_later(
    job: dict[str, Any], now: datetime, error: str, policy: RetryPolicy
) -> dict[str, Any]:
    """A transient failure: due again after a pause that grows with every attempt."""
    later = now + timedelta(seconds=policy.delay(int(job["attempts"])))
    return _changed(job, now, state="pending", next_attempt_at=stamp(later), last_error=error)


def gives_up(job: dict[str, Any], policy: RetryPolicy) -> bool:
    return int(job["attempts"]) >= policy.max_attempts


def finished(
    job: dict[str, Any], now: datetime, *, error: str | None = None, receipt: str | None = None
) -> dict[str, Any]:
    """The final state: ``sent`` (with the provider's receipt) or ``failed`` (with why)."""
    fields: dict[str, Any] = {"state": "failed" if error else "sent", "finished_at": stamp(now)}
    if error:
        fields["error"] = error
    if receipt:
        fields["receipt"] = receipt
    done = _changed(job, now, **fields)
    done.pop("next_attempt_at", None)
    return done


def outcome_event(job: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any]]:
    """``notification.delivered`` or ``notification.failed`` for a finished job."""
    body: dict[str, Any] = {
        "application_number": job["application_number"],
        "occurred_at": iso(now),
        "event": job["event"],
        "channel": job["channel"],
        "attempts": int(job["attempts"]),
    }
    if job["state"] == "failed":
        body["error"] = str(job.get("error") or "failed")
        return routing.NOTIFICATION_FAILED, body
    return routing.NOTIFICATION_DELIVERED, body
