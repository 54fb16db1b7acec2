"""The notifier's subscriber: record each step's e-mail and SMS jobs, then acknowledge.

Sending happens in the background sender (sender.py), outside the consumer's path. Steps
that arrive before their registration are recorded as ``waiting`` and sent once the
registration brings the applicant's contact; nothing is parked for mere ordering.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog

from services.notifier import domain, jobs
from services.notifier.store import NotifierStore
from shared.clock import stamp, utc_now
from shared.messaging import Incoming, MalformedMessage, Outcome


@dataclass
class NotifierHandlers:
    store: NotifierStore
    wake_sender: Callable[[], None]

    async def application_event(self, incoming: Incoming) -> Outcome:
        key = incoming.routing_key
        body = incoming.json_object()
        if key not in domain.STEPS:
            return Outcome(None, {"outcome": "ignored", "step": key})
        try:
            step = domain.read_event(key, body)
        except domain.UnreadableEvent as exc:
            raise MalformedMessage(f"{key}: {exc}") from exc
        structlog.contextvars.bind_contextvars(application_number=step.number)
        if step.contact is not None:
            await self.store.remember_contact(step.number, step.contact, stamp())
        known = await self.store.contact(step.number) is not None
        recorded = await self.store.record(
            jobs.new_jobs(step, utc_now(), known, incoming.correlation_id)
        )
        # Read again after recording: either we see the contact, or its writer sees our jobs.
        if step.contact is not None or (not known and await self.store.contact(step.number)):
            await self.store.wake_waiting(step.number, stamp())
        self.wake_sender()
        outcome = "recorded" if recorded else "duplicate"
        return Outcome(None, {"outcome": outcome, "step": key, "waiting_for_contact": not known})
