"""The notifier's use cases (see the package's docstring)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from services.notifier.domain import jobs, rounds
from services.notifier.domain.jobs import Job, RetryPolicy
from services.notifier.domain.outgoing import act_copy, mail_for, pdf_attachment, sms_for
from services.notifier.domain.providers import DeliveryFailed, Mailer, SmsGateway
from services.notifier.domain.steps import Contact, step_of
from services.notifier.store import NotifierStore
from services.notifier.usecases.outcomes import Outcomes
from shared.clock import stamp, utc_now
from shared.contracts.events import Event
from shared.delivery import Outcome
from shared.documents import render_act

log = structlog.get_logger("meter.notifier")


@dataclass(frozen=True)
class Claimed:
    """A job one sender has taken for one attempt, and whom it goes to."""

    job: Job
    contact: Contact
    after: str | None = None  # the earlier step's job this sender holds: it goes first


@dataclass(frozen=True)
class Batch:
    claimed: list[Claimed]
    more: bool  # more jobs may be due now: worth another round at once


@dataclass
class Notifier:
    store: NotifierStore
    mailer: Mailer
    sms: SmsGateway
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # A stored contact never changes (the first registration's is kept): once read, it is
    # kept here, so later steps of an application cost no read of it.
    known: dict[str, Contact] = field(default_factory=dict)
    known_limit: int = 10_000
    # Applications whose jobs this process's sender put to wait for the contact: their
    # registration makes those jobs due at once. Others' (another instance's, or from
    # before a restart) look again soon by themselves (``jobs.still_waiting``), so a
    # registration, nearly always the first event, costs no write for jobs that do not wait.
    awaiting: dict[str, None] = field(default_factory=dict)
    # The jobs this process recorded, due at once: its sender claims them from here, with
    # no look for due jobs in the database (``claim_fresh``). Whatever else becomes due
    # (retries, woken jobs, other instances' jobs) is found by a poll (``claim_due``): at
    # once when this process made it due (``poll_wanted``), else at the sender's interval.
    fresh: dict[str, Job] = field(default_factory=dict)
    fresh_limit: int = 1_000
    # Per lane (application, channel), the places of the steps whose jobs this process's
    # sender finished and stored: a later step of that lane with every earlier place among
    # them goes without reading its lane (``rounds.lanes_to_read``). Kept for the latest
    # ``known_limit`` lanes.
    finished: dict[rounds.Lane, set[int]] = field(default_factory=dict)
    poll_wanted: bool = True

    @property
    def outcomes(self) -> Outcomes:
        return Outcomes(self.store, self.policy, self.clock, self.sleep, self.want_poll)

    def want_poll(self) -> None:
        """Jobs were made due in the database: the sender's next round looks for them."""
        self.poll_wanted = True

    async def record(self, event: Event, correlation_id: str | None) -> Outcome:
        """Record the e-mail and SMS jobs of the step ``event`` tells the citizen of, once.

        Jobs are due at once; a step whose registration has not arrived waits for the
        contact when a sender finds none, and the registration makes such jobs due.
        """
        step = step_of(event)
        if step is None:
            return Outcome(None, {"outcome": "ignored", "step": event.routing_key})
        structlog.contextvars.bind_contextvars(application_number=step.number)
        now = self.clock()
        contact = step.contact
        new = jobs.new_jobs(step, now, True, correlation_id)
        recorded = await self.store.record(new, contact)  # a registration's keep its contact
        if contact is not None and recorded == len(new):
            self._know(step.number, contact)  # its senders need not read it back
        if recorded == len(new) and len(self.fresh) + len(new) <= self.fresh_limit:
            self.fresh.update((job.id, job) for job in new)  # else a poll finds them
        if step.contact is not None and step.number in self.awaiting:
            others = rounds.application_job_ids(step.number, besides=step.key)
            await self.store.make_due(others, "waiting", stamp(now))
            self.awaiting.pop(step.number, None)
            self.want_poll()
        outcome = "recorded" if recorded else "duplicate"
        return Outcome(None, {"outcome": outcome, "step": step.key})

    async def count_due(self) -> int:
        """How many jobs are due now (however many: they are counted, not read)."""
        return await self.store.count_due(stamp(self.clock()))

    async def due(self, limit: int, busy: Collection[str] = ()) -> list[Job]:
        """Jobs due now, soonest first (``busy``: ids under way here, left out)."""
        return await self.store.due(stamp(self.clock()), limit, busy)

    async def claim_due(self, limit: int, busy: Collection[str] = ()) -> Batch:
        """Claim up to ``limit`` due jobs in one round.

        The round reads twice as many as it takes and takes a random choice of them, so
        senders of several instances mostly take different jobs instead of racing for the
        same few.
        """
        self.poll_wanted = False  # what is made due from now on, the next poll finds
        window = await self.store.due(stamp(self.clock()), 2 * limit, busy)
        chosen = window
        if len(window) > limit:
            chosen = [window[i] for i in sorted(random.sample(range(len(window)), limit))]
            chosen = rounds.earliest_first(chosen, window)
        for job in chosen:
            self.fresh.pop(job.id, None)  # settled by this round
        claimed, left = await self.claim(chosen, busy)
        more = len(window) > limit or left
        if more:
            self.want_poll()
        return Batch(claimed, more=more)

    async def claim_fresh(self, limit: int, busy: Collection[str] = ()) -> Batch:
        """Claim up to ``limit`` of the jobs this process recorded (``fresh``), oldest
        first, without looking for due jobs in the database. One that changed since it was
        recorded (another sender took it) is simply not won."""
        taken = sorted(self.fresh.values(), key=lambda job: (job.created_at, job.sequence))
        taken = taken[:limit]
        for job in taken:
            del self.fresh[job.id]
        claimed, left = await self.claim([job for job in taken if job.id not in busy], busy)
        if left:
            self.want_poll()
        return Batch(claimed, more=bool(self.fresh) or left)

    async def release_unstarted(self, busy: Collection[str]) -> int:
        """Make due again the jobs this sender holds claimed but is not sending (``busy``:
        the ones it is): a claim the database wrote but never answered (it went away in
        between) would otherwise wait for its lease."""
        released = await self.store.release_own(stamp(self.clock()), busy)
        if released:
            log.warning("released claims whose answer was lost", jobs=released)
            self.want_poll()
        return released

    async def release_cut_off(self) -> int:
        """At shutdown, once no attempt is under way: this sender's claims left (attempts cut
        off, claims of a round interrupted) are due again at once, for another sender,
        instead of when its mark of life runs out. Their attempt stays counted."""
        released = await self.store.release_own(stamp(self.clock()), (), started=True)
        if released:
            log.warning("released the attempts cut off at shutdown", jobs=released)
        return released

    async def deliver(self, job: Job) -> bool:
        """Deliver one due job: claim it, send it, store the outcome; False if not claimed."""
        claimed, _ = await self.claim([job])
        if not claimed:
            return False
        await self.attempt(claimed[0])
        return True

    async def claim(
        self, due: Sequence[Job], busy: Collection[str] = ()
    ) -> tuple[list[Claimed], bool]:
        """Take what can go out of ``due``; settle the rest (contact missing, or an earlier
        step goes first). Also whether some stay due (an earlier step finished meanwhile).
        A job whose earlier step is under way here (``busy``) or claimed with it is taken
        to go after it (``Claimed.after``, ``attempt_after``)."""
        if not due:
            return [], False
        now = self.clock()
        numbers = {job.application_number for job in due}
        unknown = numbers - self.known.keys()
        lane_ids = rounds.lanes_to_read(due, self.finished)
        # The lanes and the contacts not known here are one read (a registration's jobs,
        # which keep its contact, are in their applications' lanes anyway).
        lanes, found = await self.store.jobs_and_contacts(lane_ids, unknown)
        contacts = {number: self.known[number] for number in numbers - unknown}
        for number, contact in found.items():
            self._know(number, contact)
            contacts[number] = contact
        decided = rounds.plan(due, contacts, lanes, now, self.policy, busy)
        for current, _ in decided.claims:
            if current.state == "sending":
                log.warning("taking back a job whose sender did not finish", job=current.id)
        won = await self.store.claim(decided.claims)
        left = False
        for behind in decided.behind:
            # Noted on the earlier job first: its sender then wakes this one when it is done.
            if await self.store.follow(behind.earlier, behind.current.id):
                await self.store.replace(behind.current, behind.deferred)
            else:
                left = True  # the earlier one has just finished: due now, next round
        if decided.waits:
            await self._wait_for_contacts(decided.waits)
        for current, failed in decided.expired:
            await self.outcomes.settle(current, failed)
        return [
            Claimed(job, contacts[job.application_number], decided.after.get(job.id)) for job in won
        ], left

    async def _wait_for_contacts(self, waits: Sequence[tuple[Job, Job]]) -> None:
        """Store the jobs that wait for their contact; the registration recorded here
        wakes them. One recorded while they were being put to wait wakes them now."""
        numbers = {current.application_number for current, _ in waits}
        for number in numbers:
            if number not in self.awaiting and len(self.awaiting) >= self.known_limit:
                del self.awaiting[next(iter(self.awaiting))]  # the oldest: it looks by itself
            self.awaiting[number] = None
        for current, waiting in waits:
            await self.store.replace(current, waiting)
        arrived = [number for number in numbers if number in self.known]
        for number in arrived:
            self.awaiting.pop(number, None)
            ids = rounds.application_job_ids(number)
            await self.store.make_due(ids, "waiting", stamp(self.clock()))
            self.want_poll()

    def _know(self, number: str, contact: Contact) -> None:
        if number not in self.known and len(self.known) >= self.known_limit:
            del self.known[next(iter(self.known))]  # the oldest
        self.known[number] = contact

    async def attempt_after(self, earlier: Awaitable[bool] | None, claimed: Claimed) -> bool:
        """Attempt a job claimed to go after ``claimed.after`` once that one's attempt
        (``earlier``: what it came to; None when it ended before this began) has stored a
        final outcome. Otherwise (it will be retried, or another sender took it) the claim
        is given back, due at once: the next round puts the job behind the earlier one."""
        assert claimed.after is not None
        try:
            if earlier is not None:
                final = await earlier
            else:
                stored = await self.store.job(claimed.after)
                final = stored is None or stored.final
        except Exception:  # the earlier attempt failed unexpectedly: not known to be done
            final = False
        if final:
            return await self.attempt(claimed)
        job = claimed.job
        if await self.store.replace(job, jobs.unclaimed(job, self.clock())):
            log.info("claim given back: the earlier step is not done", job=job.id)
            self.want_poll()
        return False

    async def attempt(self, claimed: Claimed) -> bool:
        """Send a claimed job once and store what came of it; whether that outcome is final
        and stored."""
        job = claimed.job
        try:
            receipt = await self._send(job, claimed.contact)
        except DeliveryFailed as exc:
            outcome = self._after_failure(job, exc.reason, permanent=exc.permanent)
        except Exception as exc:  # a provider or rendering bug must not lose the job:
            log.exception("sending raised unexpectedly", job=job.id)  # retried like a time-out
            outcome = self._after_failure(job, f"{type(exc).__name__}: {exc}", permanent=False)
        else:
            outcome = jobs.finished(job, self.clock(), receipt=receipt)
        stored = await self.outcomes.settle(job, outcome)
        if stored and outcome.final:
            self._finished(job)
        return stored and outcome.final

    def _finished(self, job: Job) -> None:
        lane = rounds.lane_of(job)
        places = self.finished.pop(lane, None)  # re-inserted: the latest lanes are kept
        if places is None:
            places = set()
            if len(self.finished) >= self.known_limit:
                del self.finished[next(iter(self.finished))]  # the oldest
        places.add(job.sequence)
        self.finished[lane] = places

    async def _send(self, job: Job, contact: Contact) -> str | None:
        if job.channel == "email":
            copy = act_copy(job, contact)
            if copy is None:
                return await self.mailer.send(mail_for(job, contact))
            # The same facts give the same bytes; a repeated attempt finds the act kept
            # drawn. Drawing one takes tens of milliseconds: off the event loop.
            data = await asyncio.to_thread(render_act, copy)
            return await self.mailer.send(mail_for(job, contact, [pdf_attachment(copy, data)]))
        return await self.sms.send(sms_for(job, contact))

    def _after_failure(self, job: Job, reason: str, *, permanent: bool) -> Job:
        now = self.clock()
        if permanent or jobs.gives_up(job, self.policy):
            why = "permanent" if permanent else f"gave up after {job.attempts} attempts"
            return jobs.finished(job, now, error=f"{reason} ({why})")
        later = jobs.retry_later(job, now, reason, self.policy)
        log.warning(
            "notification failed; will retry",
            job=job.id,
            attempts=job.attempts,
            error=reason,
            retry_at=later.next_attempt_at,
        )
        return later
