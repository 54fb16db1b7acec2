"""What the notifier's use cases need from storage (a port; ``mongo.py`` is the adapter).

Contacts: one per application, from its registration; the first one is kept. Jobs: one per
(application, event, channel), keyed by that triple, so a redelivered event records nothing
twice. A job is replaced whole, and only if nobody changed it since it was read (its
``version``). ``save_and_publish`` finishes a job together with its outcome event in one
write, then publishes the event (or leaves it to the outbox relay).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from services.notifier.domain.jobs import Job, NotificationOutcome
from services.notifier.domain.steps import Contact


class NotifierStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def remember_contact(self, number: str, contact: Contact, at: str) -> None:
        """Keep the first registration's contact; a redelivered one changes nothing."""
        ...

    async def contact(self, number: str) -> Contact | None: ...

    async def record(self, jobs: Sequence[Job]) -> int:
        """Store the jobs not recorded yet (by id); how many were new."""
        ...

    async def wake_waiting(self, number: str, at: str) -> None:
        """The contact is known now: the application's waiting jobs are due at ``at``."""
        ...

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        """Up to ``limit`` unfinished jobs due by ``at``, soonest first, except ``busy`` ids."""
        ...

    async def earlier_open(self, job: Job) -> Job | None:
        """An unfinished job of an earlier step of the same application and channel."""
        ...

    async def replace(self, current: Job, new: Job) -> bool:
        """Write ``new`` if nobody changed the job since ``current`` was read."""
        ...

    async def save_and_publish(self, current: Job, final: Job, event: NotificationOutcome) -> bool:
        """Like ``replace``, with ``event`` (under the job's correlation id) in the same write;
        then publish it. False, and nothing written, when the job changed meanwhile."""
        ...

    async def job(self, job_id: str) -> Job | None: ...
