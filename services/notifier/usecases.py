"""The notifier's use cases: record the e-mail and SMS jobs of a step; deliver one due job.

Recording is what the consumer does (then it acknowledges); delivering is what the
background sender (``background.py``) does with each due job: claim it (a version-guarded
write, so two senders never both send), send it, and store the outcome together with its
``notification.delivered`` / ``notification.failed`` event (``save_and_publish``).
Storage is the ``NotifierStore`` port, providers are the ``Mailer`` and ``SmsGateway``
ports, time comes from ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from services.notifier.domain import jobs
from services.notifier.domain.jobs import Job, RetryPolicy
from services.notifier.domain.outgoing import mail_for, sms_for
from services.notifier.domain.providers import DeliveryFailed, Mailer, SmsGateway
from services.notifier.domain.steps import Contact, step_of
from services.notifier.store import NotifierStore
from shared.clock import stamp, utc_now
from shared.contracts.events import Event
from shared.delivery import Outcome

log = structlog.get_logger("meter.notifier")


@dataclass(frozen=True)
class Claimed:
    """A job one sender has taken for one attempt, and whom it goes to."""

    job: Job
    contact: Contact


@dataclass
class Notifier:
    store: NotifierStore
    mailer: Mailer
    sms: SmsGateway
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now

    async def record(self, event: Event, correlation_id: str | None) -> Outcome:
        """Record the e-mail and SMS jobs of the step ``event`` tells the citizen of, once.

        A step that arrives before its registration waits for the contact; the
        registration makes the application's waiting jobs due.
        """
        step = step_of(event)
        if step is None:
            return Outcome(None, {"outcome": "ignored", "step": event.routing_key})
        structlog.contextvars.bind_contextvars(application_number=step.number)
        if step.contact is not None:
            await self.store.remember_contact(step.number, step.contact, stamp(self.clock()))
        known = await self.store.contact(step.number) is not None
        recorded = await self.store.record(jobs.new_jobs(step, self.clock(), known, correlation_id))
        # Read again after recording: either we see the contact, or its writer sees our jobs.
        if step.contact is not None or (not known and await self.store.contact(step.number)):
            await self.store.wake_waiting(step.number, stamp(self.clock()))
        outcome = "recorded" if recorded else "duplicate"
        return Outcome(
            None, {"outcome": outcome, "step": step.key, "waiting_for_contact": not known}
        )

    async def due(self, limit: int, busy: Collection[str] = ()) -> list[Job]:
        """Jobs due now, soonest first (``busy``: ids under way here, left out)."""
        return await self.store.due(stamp(self.clock()), limit, busy)

    async def deliver(self, job: Job) -> bool:
        """Deliver one due job: claim it, send it, store the outcome; False if not claimed."""
        claimed = await self.claim(job)
        if claimed is None:
            return False
        await self.attempt(claimed)
        return True

    async def claim(self, job: Job) -> Claimed | None:
        """Take ``job`` for one attempt, or settle why not now (None)."""
        now = self.clock()
        contact = await self.store.contact(job.application_number)
        if contact is None:
            if jobs.contact_overdue(job, now, self.policy):
                error = "no contact: application.registered was never received"
                await self._finish(job, jobs.finished(job, now, error=error))
            else:
                await self.store.replace(job, jobs.still_waiting(job, now, self.policy))
            return None
        earlier = await self.store.earlier_open(job)
        if earlier is not None:  # the citizen hears of the steps in their order
            until = jobs.after(earlier, now, self.policy.order_recheck)
            await self.store.replace(job, jobs.deferred(job, now, until))
            return None
        if job.state == "sending":
            log.warning("taking back a job whose sender did not finish", job=job.id)
        claimed = jobs.claimed(job, now, self.policy)
        if not await self.store.replace(job, claimed):
            return None  # another sender took it, or it changed: seen again next round
        return Claimed(claimed, contact)

    async def attempt(self, claimed: Claimed) -> None:
        """Send a claimed job once and store what came of it."""
        try:
            await self._attempt_once(claimed.job, claimed.contact)
        except Exception:  # the store is down, say: the lease brings the job back
            log.exception("notification attempt could not be recorded", job=claimed.job.id)

    async def _attempt_once(self, job: Job, contact: Contact) -> None:
        try:
            receipt = await self._send(job, contact)
        except DeliveryFailed as exc:
            await self._failed(job, exc.reason, permanent=exc.permanent)
        except Exception as exc:  # a provider bug must not lose the job: retried like a time-out
            log.exception("provider raised unexpectedly", job=job.id)
            await self._failed(job, f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            await self._finish(job, jobs.finished(job, self.clock(), receipt=receipt))

    async def _send(self, job: Job, contact: Contact) -> str | None:
        if job.channel == "email":
            return await self.mailer.send(mail_for(job, contact))
        return await self.sms.send(sms_for(job, contact))

    async def _failed(self, job: Job, reason: str, *, permanent: bool) -> None:
        now = self.clock()
        if permanent or jobs.gives_up(job, self.policy):
            why = "permanent" if permanent else f"gave up after {job.attempts} attempts"
            await self._finish(job, jobs.finished(job, now, error=f"{reason} ({why})"))
            return
        later = jobs.retry_later(job, now, reason, self.policy)
        await self.store.replace(job, later)
        log.warning(
            "notification failed; will retry",
            job=job.id,
            attempts=job.attempts,
            error=reason,
            retry_at=later.next_attempt_at,
        )

    async def _finish(self, current: Job, final: Job) -> None:
        event = jobs.outcome_event(final, self.clock())
        if not await self.store.save_and_publish(current, final, event):
            log.warning("job changed while it was being finished", job=current.id)
            return
        log.info(
            "notification " + final.state,
            application_number=final.application_number,
            step=final.event,
            channel=final.channel,
            attempts=final.attempts,
            error=final.error,
        )
