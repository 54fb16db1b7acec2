"""What the notifier's use cases need from storage (a port; ``mongo.py`` is the adapter).

Contacts: one per application, kept with its registration's jobs; the first one is kept.
Jobs: one per (application, event, channel), keyed by that triple, so a redelivered event
records nothing twice. Every change of a job is written only if nobody changed it since it
was read (its ``version``): that is how two senders never both take one job. ``save_and_publish``
finishes a job together with its outcome event in one write, then publishes the event (or
leaves it to the outbox relay). Each method is one round trip, unless it says otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from services.notifier.domain.jobs import Job, NotificationOutcome, State
from services.notifier.domain.steps import Contact


class NotifierStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def contacts(self, numbers: Collection[str]) -> dict[str, Contact]:
        """The contacts the registrations of these applications recorded, by application
        number (one round trip; two when one of them is not found with its jobs)."""
        ...

    async def record(self, jobs: Sequence[Job], contact: Contact | None = None) -> int:
        """Store the jobs not recorded yet (by id); how many were new. ``contact``: the
        registration's, kept with its jobs, so a redelivered registration changes nothing
        (the first one's contact is kept)."""
        ...

    async def make_due(self, ids: Collection[str], state: State, at: str) -> None:
        """The jobs among ``ids`` that are in ``state`` become due at ``at``."""
        ...

    async def count_due(self, at: str) -> int:
        """How many unfinished jobs are due by ``at``, counted through the same index as
        ``due`` and none of them read (the gauge: a backlog of any size)."""
        ...

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        """Up to ``limit`` unfinished jobs due by ``at``, soonest first, except ``busy`` ids
        (read through an index: only unfinished jobs are in it)."""
        ...

    async def jobs(self, ids: Collection[str]) -> list[Job]:
        """The jobs among ``ids`` that exist."""
        ...

    async def jobs_and_contacts(
        self, ids: Collection[str], numbers: Collection[str]
    ) -> tuple[list[Job], dict[str, Contact]]:
        """``jobs(ids)`` and ``contacts(numbers)`` read together: one round trip (two when
        a contact is not found with its registration's jobs)."""
        ...

    async def claim(self, claims: Sequence[tuple[Job, Job]]) -> list[Job]:
        """Write each ``(read, claimed)`` pair's claimed job if the job is still as read;
        the claimed jobs written (one round trip, two when another sender won some)."""
        ...

    async def beat(self, until: str) -> None:
        """Note that this process is alive and sending until ``until`` (renewed before)."""
        ...

    async def release_dead(self, at: str) -> int:
        """Make due at ``at`` the jobs still being sent by senders not alive at ``at`` (they
        died: their leases would hold the jobs until they end); how many. Those senders
        are forgotten."""
        ...

    async def release_own(self, at: str, busy: Collection[str], *, started: bool = False) -> int:
        """Make due at ``at`` the jobs this sender claimed but is not sending (not in
        ``busy``), which their lease would hold until it ends: claims written whose answer
        was lost (the database went away between writing and answering; their attempt is
        given back), or, with ``started``, attempts cut off at shutdown (it counts). How
        many."""
        ...

    async def follow(self, earlier: Job, follower_id: str) -> bool:
        """Note on the unfinished ``earlier`` job that ``follower_id`` waits for it; False
        when ``earlier`` is finished already (then nobody will wake the follower)."""
        ...

    async def replace(self, current: Job, new: Job) -> bool:
        """Write ``new`` if nobody changed the job since ``current`` was read."""
        ...

    async def save_and_publish(
        self, current: Job, final: Job, event: NotificationOutcome
    ) -> tuple[str, ...] | None:
        """Like ``replace``, with ``event`` (under the job's correlation id) in the same write;
        then publish it (another round trip when the broker took it). The ids of the jobs
        that waited for this one (``follow``); None, and nothing written, when the job
        changed meanwhile."""
        ...

    async def job(self, job_id: str) -> Job | None: ...
