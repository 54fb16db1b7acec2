"""What one sender round does with the jobs that are due (pure).

A round reads the due jobs, the contacts of their applications and the other jobs of their
lanes (the same application on the same channel) in one read each, then decides for every
job: claim it, let it wait for the contact, report it failed because the contact never
came, or put it behind the earlier step it must follow. Steps are chained: a job put
behind an earlier one is made due by that one's sender when it finishes, so nothing is
polled while it waits (``order_recheck`` only heals a chain whose sender died). When the
earlier job is this sender's own (under way here, or claimed in the same round), the later
one is claimed at once to go right after it in this process: no note on the earlier job,
no wake-up and no further round, which is what most lifecycles need, since an
application's first steps follow each other within milliseconds. A lane whose earlier
steps this sender finished itself is not read at all: their places are remembered.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.notifier.domain import jobs
from services.notifier.domain.jobs import Job, RetryPolicy
from services.notifier.domain.steps import CHANNELS, STEPS, Contact


def application_job_ids(number: str, *, besides: str = "") -> list[str]:
    """Every job an application can have (its steps on both channels), but step ``besides``."""
    return [
        jobs.job_id(number, key, channel) for key in STEPS if key != besides for channel in CHANNELS
    ]


def lane_ids(job: Job) -> list[str]:
    """The other steps' jobs of the same application on the same channel (its lane)."""
    return [
        jobs.job_id(job.application_number, key, job.channel) for key in STEPS if key != job.event
    ]


Lane = tuple[str, str]  # (application number, channel)


def lane_of(job: Job) -> Lane:
    return job.application_number, job.channel


def lanes_to_read(
    due: Iterable[Job], finished: Mapping[Lane, Collection[int]] | None = None
) -> list[str]:
    """The ids whose jobs tell whether ``due`` must wait; none for first steps, and none
    for a job whose lane is known (``finished``: the places of the steps whose jobs are
    known finished, per lane) to hold a finished job for every place before its own.
    An application's events have places 1, 2, 3, … each once: no earlier step of that lane
    can then be unfinished (an event that tells the citizen nothing, an overdue, leaves its
    place unknown, and the lane is read)."""
    ids: dict[str, None] = {}
    for job in due:
        if job.sequence <= 1:  # nothing of an application comes before its first event
            continue
        done = finished.get(lane_of(job), ()) if finished is not None else ()
        if all(place in done for place in range(1, job.sequence)):
            continue
        ids.update(dict.fromkeys(lane_ids(job)))
    return list(ids)


def earliest_first(chosen: Sequence[Job], window: Sequence[Job]) -> list[Job]:
    """As many jobs as ``chosen``, each swapped for the earliest step of its lane (same
    application, same channel) due in ``window`` and not taken yet: the earlier steps go
    out this round (the later ones right after them, claimed by a later round), rather
    than a later step put behind an earlier one in two writes and a wake-up."""
    lanes: dict[tuple[str, str], list[Job]] = {}
    for job in sorted(window, key=lambda job: job.sequence):
        lanes.setdefault((job.application_number, job.channel), []).append(job)
    taken: dict[str, Job] = {}
    for job in chosen:
        lane = lanes.get((job.application_number, job.channel), [job])
        first = next((other for other in lane if other.id not in taken), job)
        taken[first.id] = first
    return list(taken.values())


def waits_for(job: Job, lane: Iterable[Job]) -> Job | None:
    """The job ``job`` goes after: the latest unfinished earlier step on its channel."""
    earlier = [
        other
        for other in lane
        if other.application_number == job.application_number
        and other.channel == job.channel
        and other.sequence < job.sequence
        and not other.final
    ]
    return max(earlier, key=lambda other: other.sequence, default=None)


@dataclass(frozen=True)
class Behind:
    """A job put behind ``earlier``: ``deferred`` is written once ``earlier`` will wake it."""

    current: Job
    earlier: Job
    deferred: Job


@dataclass
class Round:
    claims: list[tuple[Job, Job]] = field(default_factory=list)  # (read, claimed)
    # Claimed to go right after an earlier step this sender holds: claimed id -> earlier id.
    after: dict[str, str] = field(default_factory=dict)
    waits: list[tuple[Job, Job]] = field(default_factory=list)  # no contact yet
    expired: list[tuple[Job, Job]] = field(default_factory=list)  # (read, failed)
    behind: list[Behind] = field(default_factory=list)


def plan(
    due: Sequence[Job],
    contacts: Mapping[str, Contact],
    lanes: Iterable[Job],
    now: datetime,
    policy: RetryPolicy,
    ours: Collection[str] = (),
) -> Round:
    """Decide what becomes of each due job this round.

    A job whose earlier step is held by this sender (``ours``: attempts under way here, or
    claimed in this round) is claimed to go right after it, in this process: no note on
    the earlier job, no wake-up, no other round. Its sender attempts it once the earlier
    one's outcome is stored and final, and otherwise gives the claim back.
    """
    # The lanes were read after the due jobs: where both hold a job, theirs is newer.
    lane = list({job.id: job for job in [*due, *lanes]}.values())
    decided = Round()
    held = set(ours)
    for job in sorted(due, key=lambda job: job.sequence):  # an earlier step decided first
        if job.application_number not in contacts:
            if jobs.contact_overdue(job, now, policy):
                error = "no contact: application.registered was never received"
                decided.expired.append((job, jobs.finished(job, now, error=error)))
            else:
                decided.waits.append((job, jobs.still_waiting(job, now, policy)))
            continue
        earlier = waits_for(job, lane)
        if earlier is not None and earlier.id in held:
            decided.claims.append((job, jobs.claimed(job, now, policy)))
            decided.after[job.id] = earlier.id
            held.add(job.id)
            continue
        if earlier is not None:  # the citizen hears of the steps in their order
            until = jobs.after(earlier, now, policy.order_recheck)
            decided.behind.append(Behind(job, earlier, jobs.deferred(job, now, until)))
            continue
        decided.claims.append((job, jobs.claimed(job, now, policy)))
        held.add(job.id)
    return decided
