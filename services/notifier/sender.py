"""The background sender: delivers due jobs, retries transient failures, reports outcomes.

It runs beside the consumer, never in its way: the consumer records jobs and acknowledges;
this loop claims each due job (a version-guarded write, so two senders never both send),
sends it in its own task, and stores the outcome together with its
``notification.delivered`` / ``notification.failed`` event (outbox in the same write).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any

import structlog

from services.notifier import jobs, smsparts
from services.notifier.channels import DeliveryFailed, Mail, Mailer, Sms, SmsGateway
from services.notifier.domain import Contact, render, step_text
from services.notifier.store import NotifierStore
from shared.clock import stamp, utc_now
from shared.outbox import Outbox, event_entry, with_outbox

log = structlog.get_logger("meter.notifier")


@dataclass
class Sender:
    store: NotifierStore
    outbox: Outbox
    mailer: Mailer
    sms: SmsGateway
    policy: jobs.RetryPolicy
    interval: float = 1.0
    concurrency: int = 16
    graceful: float = 20.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _inflight: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def wake(self) -> None:
        """New jobs were recorded: look for due jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    await self.deliver_due()
                except Exception:
                    log.exception("sender round failed; will retry")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval)
        except asyncio.CancelledError:
            await self._let_inflight_finish()
            raise

    async def deliver_due(self) -> int:
        """Start an attempt for every due job there is room for; how many were started."""
        room = self.concurrency - len(self._inflight)
        if room <= 0:
            return 0
        started = 0
        for job in await self.store.due(stamp(utc_now()), room, set(self._inflight)):
            taken = await self._claim(job)
            if taken is None:
                continue
            claimed, contact = taken
            key = str(claimed["_id"])
            task = asyncio.create_task(self._attempt(claimed, contact))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
            started += 1
        return started

    def _done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self._wake.set()

    async def _claim(self, job: dict[str, Any]) -> tuple[dict[str, Any], Contact] | None:
        now = utc_now()
        contact = await self.store.contact(job["application_number"])
        if contact is None:
            if jobs.contact_overdue(job, now, self.policy):
                error = "no contact: application.registered was never received"
                await self._finish(job, jobs.finished(job, now, error=error))
            else:
                await self.store.replace(job, jobs.still_waiting(job, now, self.policy))
            return None
        earlier = await self.store.earlier_open(job)
        if earlier is not None:  # the citizen hears of the steps in their order
            until = jobs.after(earlier, now, self.interval)
            await self.store.replace(job, jobs.deferred(job, now, until))
            return None
        if job["state"] == "sending":
            log.warning("taking back a job whose sender did not finish", job=job["_id"])
        claimed = jobs.claimed(job, now, self.policy)
        if not await self.store.replace(job, claimed):
            return None  # another sender took it, or it changed: seen again next round
        return claimed, contact

    async def _attempt(self, job: dict[str, Any], contact: Contact) -> None:
        try:
            await self._attempt_once(job, contact)
        except Exception:  # the store is down, say: the lease brings the job back
            log.exception("notification attempt could not be recorded", job=job["_id"])

    async def _attempt_once(self, job: dict[str, Any], contact: Contact) -> None:
        try:
            receipt = await self._send(job, contact)
        except DeliveryFailed as exc:
            await self._failed(job, exc.reason, permanent=exc.permanent)
        except Exception as exc:  # a provider bug must not lose the job: retried like a time-out
            log.exception("provider raised unexpectedly", job=job["_id"])
            await self._failed(job, f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            await self._finish(job, jobs.finished(job, utc_now(), receipt=receipt))

    async def _send(self, job: dict[str, Any], contact: Contact) -> str | None:
        number, event = job["application_number"], job["event"]
        if job["channel"] == "email":
            notice = render(event, number, job["details"], contact.language)
            reference = f"{job['_id']}.{job['created_at']}"
            return await self.mailer.send(
                Mail(
                    contact.email,
                    notice.subject,
                    notice.text,
                    notice.html,
                    reference,
                    contact.language,
                )
            )
        text = smsparts.fit(step_text(event, number, job["details"], contact.language), number)
        return await self.sms.send(Sms(contact.phone, text, f"{number}:{event}:sms"))

    async def _failed(self, job: dict[str, Any], reason: str, *, permanent: bool) -> None:
        now = utc_now()
        fields = {"job": job["_id"], "attempts": job["attempts"], "error": reason}
        if permanent or jobs.gives_up(job, self.policy):
            why = "permanent" if permanent else f"gave up after {job['attempts']} attempts"
            await self._finish(job, jobs.finished(job, now, error=f"{reason} ({why})"))
            return
        later = jobs.retry_later(job, now, reason, self.policy)
        await self.store.replace(job, later)
        log.warning("notification failed; will retry", retry_at=later["next_attempt_at"], **fields)

    async def _finish(self, current: dict[str, Any], final: dict[str, Any]) -> None:
        key, body = jobs.outcome_event(final, utc_now())
        document = with_outbox(final, [event_entry(key, body, final.get("correlation_id"))])
        if not await self.store.replace(current, document):
            log.warning("job changed while it was being finished", job=current["_id"])
            return
        log.info(
            "notification " + final["state"],
            application_number=final["application_number"],
            step=final["event"],
            channel=final["channel"],
            attempts=final["attempts"],
            error=final.get("error"),
        )
        try:
            await self.outbox.flush(self.store.notifications, document)
        except Exception as exc:  # stored already: the outbox relay publishes it later
            log.warning("outcome left to the outbox relay", error=f"{type(exc).__name__}: {exc}")

    async def _let_inflight_finish(self) -> None:
        """On shutdown let attempts under way finish (an e-mail half sent is worse)."""
        tasks = list(self._inflight.values())
        if not tasks:
            return
        _, unfinished = await asyncio.wait(tasks, timeout=self.graceful)
        for task in unfinished:
            task.cancel()  # its lease runs out and another sender retries it
        await asyncio.gather(*unfinished, return_exceptions=True)
