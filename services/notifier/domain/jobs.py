"""Notification jobs: one per (application, event, channel), and its states (pure).

States: ``waiting`` (the registration with the contact has not arrived yet), ``pending``
(due at ``next_attempt_at``), ``sending`` (claimed by a sender until ``next_attempt_at``,
its lease), then finally ``sent`` or ``failed``. Every change makes a new ``Job`` with
``version`` one higher; the store writes it guarded by the version it replaces.
Times are ``shared.clock.stamp`` text.

The lease outlasts the longest attempt (the SMTP end-of-data wait included) and an outage
of the store: an outcome that cannot be stored is retried in place by its sender, so no
other sender takes the job back while its first sender may still store it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from services.notifier.domain.steps import CHANNELS, Channel, StepEvent
from shared.clock import iso, stamp
from shared.contracts.events import ApplicationRegistered, NotificationDelivered, NotificationFailed

State = Literal["waiting", "pending", "sending", "sent", "failed"]
OPEN_STATES: tuple[State, ...] = ("waiting", "pending", "sending")
FINAL_STATES: tuple[State, ...] = ("sent", "failed")


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a notification is tried before it is reported failed."""

    base: float = 10.0  # seconds before the first retry; doubles per attempt
    cap: float = 1800.0  # longest pause between attempts
    max_attempts: int = 56  # with the defaults above: about 24 hours of retries
    lease: float = 1800.0  # a claimed job is taken back after this (its sender died)
    contact_wait: float = 7 * 86400.0  # how long a step waits for its registration
    contact_recheck: float = 30.0
    # A step waiting behind an earlier one is made due when that one finishes; this only
    # heals a chain whose sender died between the two writes.
    order_recheck: float = 60.0
    store_base: float = 0.2  # storing an outcome is retried in place: first pause
    store_cap: float = 5.0  # ... doubling up to this
    store_wait: float = 30.0  # a write not answered by then is taken as failed and retried

    def delay(self, attempts: int) -> float:
        return float(min(self.cap, self.base * 2 ** max(0, attempts - 1)))

    def store_delay(self, failures: int) -> float:
        return float(min(self.store_cap, self.store_base * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class Job:
    """One e-mail or SMS about one step, as stored (``id``: ``<number>:<event>:<channel>``)."""

    id: str
    application_number: str
    event: str  # the routing key of the step
    sequence: int
    channel: Channel
    correlation_id: str | None  # the step's: the outcome event carries it on
    details: dict[str, str]
    state: State
    attempts: int
    next_attempt_at: str | None  # due (or lease end); None once final
    created_at: str
    updated_at: str
    version: int
    last_error: str | None = None  # why the latest attempt failed (retried)
    finished_at: str | None = None
    error: str | None = None  # why it failed for good
    receipt: str | None = None  # the provider's id for what it took

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def job_id(number: str, event: str, channel: str) -> str:
    return f"{number}:{event}:{channel}"


# The step whose event carries the applicant's contact: its jobs keep it for the others.
REGISTRATION: str = ApplicationRegistered.routing_key


def registration_job_ids(number: str) -> list[str]:
    """The ids of the jobs an application's registration records (they keep its contact)."""
    return [job_id(number, REGISTRATION, channel) for channel in CHANNELS]


def new_jobs(
    step: StepEvent, now: datetime, contact_known: bool, correlation_id: str | None = None
) -> list[Job]:
    """The step's e-mail and SMS jobs, due now (or waiting for the contact).

    ``correlation_id`` is the triggering event's: the outcome events carry it on.
    """
    at = stamp(now)
    return [
        Job(
            id=job_id(step.number, step.key, channel),
            application_number=step.number,
            event=step.key,
            sequence=step.sequence,
            channel=channel,
            correlation_id=correlation_id,
            details=step.details_for(channel),
            state="pending" if contact_known else "waiting",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
            updated_at=at,
            version=1,
        )
        for channel in CHANNELS
    ]


def _changed(job: Job, now: datetime, **fields: Any) -> Job:
    return dataclasses.replace(job, **fields, updated_at=stamp(now), version=job.version + 1)


def claimed(job: Job, now: datetime, policy: RetryPolicy) -> Job:
    """The job taken by one sender for one attempt, until its lease runs out."""
    return _changed(
        job,
        now,
        state="sending",
        attempts=job.attempts + 1,
        next_attempt_at=stamp(now + timedelta(seconds=policy.lease)),
    )


def unclaimed(job: Job, now: datetime) -> Job:
    """A claim given back before its attempt: due again at once, the attempt not counted."""
    return _changed(
        job, now, state="pending", attempts=job.attempts - 1, next_attempt_at=stamp(now)
    )


def deferred(job: Job, now: datetime, until: str) -> Job:
    """Not yet: an earlier step of the application goes first on this channel (``pending``:
    its contact is known, and it is made due when the earlier step finishes)."""
    return _changed(job, now, state="pending", next_attempt_at=until)


def after(earlier: Job, now: datetime, pause: float) -> str:
    """When to look again at a job that waits for ``earlier``, should nobody wake it."""
    soon = stamp(now + timedelta(seconds=pause))
    if earlier.state == "pending" and earlier.next_attempt_at is not None:
        return max(earlier.next_attempt_at, soon)
    return soon


def still_waiting(job: Job, now: datetime, policy: RetryPolicy) -> Job:
    """Looked at again after half the time it has waited so far, at least a second (or
    ``contact_recheck`` if shorter) and at most ``contact_recheck``: a registration that
    was only a moment behind (handled by another notifier instance, which cannot know of
    this wait) is caught within a second or so; one that never comes is looked for every
    ``contact_recheck`` until ``contact_wait`` is over."""
    waited = (now - datetime.fromisoformat(job.created_at.replace("Z", "+00:00"))).total_seconds()
    pause = min(policy.contact_recheck, max(1.0, waited / 2))
    later = now + timedelta(seconds=pause)
    return _changed(job, now, state="waiting", next_attempt_at=stamp(later))


def contact_overdue(job: Job, now: datetime, policy: RetryPolicy) -> bool:
    return job.created_at < stamp(now - timedelta(seconds=policy.contact_wait))


def retry_later(job: Job, now: datetime, error: str, policy: RetryPolicy) -> Job:
    """A transient failure: due again after a pause that grows with every attempt."""
    later = now + timedelta(seconds=policy.delay(job.attempts))
    return _changed(job, now, state="pending", next_attempt_at=stamp(later), last_error=error)


def gives_up(job: Job, policy: RetryPolicy) -> bool:
    return job.attempts >= policy.max_attempts


def finished(
    job: Job, now: datetime, *, error: str | None = None, receipt: str | None = None
) -> Job:
    """The final state: ``sent`` (with the provider's receipt) or ``failed`` (with why)."""
    fields: dict[str, Any] = {
        "state": "failed" if error else "sent",
        "finished_at": stamp(now),
        "next_attempt_at": None,
    }
    if error:
        fields["error"] = error
    if receipt:
        fields["receipt"] = receipt
    return _changed(job, now, **fields)


NotificationOutcome = NotificationDelivered | NotificationFailed


def outcome_event(job: Job, now: datetime) -> NotificationOutcome:
    """``notification.delivered`` or ``notification.failed`` for a finished job."""
    common: dict[str, Any] = {
        "application_number": job.application_number,
        "occurred_at": iso(now),
        "event": job.event,
        "channel": job.channel,
        "attempts": job.attempts,
    }
    if job.state == "failed":
        return NotificationFailed(**common, error=job.error or "failed")
    return NotificationDelivered(**common)
