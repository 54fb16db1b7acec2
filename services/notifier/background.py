"""The background sender: the loop that delivers due jobs beside the consumer.

Each round claims as many due jobs as there is room for (``concurrency`` attempts at once)
in a few round trips, and sends each in its own task, so a slow or failing provider never
holds up the others. A round starts when woken (new jobs recorded, an attempt finished),
at once again while more jobs are due, or every ``interval`` seconds; wake-ups arriving
within ``gather`` seconds make one round. A round looks for due jobs in the database (a
poll) every ``interval`` seconds, and at once when this process made jobs due there
(``Notifier.poll_wanted``); otherwise it claims the jobs this process has just recorded
(``Notifier.fresh``) without that look, and a round with neither costs nothing. A failing
round (the database is down) is retried with a pause that doubles up to ``outage_cap``;
the first round after a failed one begins by releasing this sender's claims that it is not
sending (a claim the database wrote before it went away, unanswered, is held by nobody),
and so does a round every ``sweep`` seconds (a claim of a round given up that the server
applied later). On shutdown attempts under way get ``graceful`` seconds to finish; what is
cut off is made due again at once for another sender (or taken back when this sender's
mark of life runs out, if the database does not answer then).

``Liveness`` renews this process's mark of life every ``beat`` seconds (alive for ``ttl``)
and, once it has itself been alive without a break for ``ttl``, makes due again the jobs
of senders whose mark ran out: a notifier killed mid-round has its claims taken back within
about ``ttl`` seconds, not when their leases end. The unbroken ``ttl`` matters after a
database outage: every sender's mark has run out then, and the living ones renew theirs
within ``beat`` seconds, well before anyone treats them as dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from services.notifier.store import NotifierStore
from services.notifier.usecases import Claimed, Notifier
from shared.clock import stamp, utc_now

log = structlog.get_logger("meter.notifier")


@dataclass
class Sender:
    notifier: Notifier
    interval: float = 1.0
    concurrency: int = 16
    graceful: float = 20.0
    gather: float = 0.005
    outage_cap: float = 30.0
    round_wait: float = 60.0  # a round the database never answers is given up and retried
    release_wait: float = 5.0  # at shutdown, for releasing the attempts cut off
    started: int = 0  # attempts started so far
    unsure: bool = False  # a round failed: claims of it may be written but unanswered
    sweep: float = 60.0  # and every so often anyway (a claim the server applied late)
    _swept_at: float | None = None
    _polled_at: float = float("-inf")  # when this sender last looked for due jobs
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _inflight: dict[str, asyncio.Task[bool]] = field(default_factory=dict)

    def wake(self) -> None:
        """New jobs were recorded: look for due jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                self._wake.clear()
                try:
                    async with asyncio.timeout(self.round_wait):
                        again = await self.deliver_due()
                except Exception as exc:
                    failures += 1
                    self.unsure = True
                    pause = min(self.outage_cap, self.interval * 2 ** (failures - 1))
                    log.warning("sender round failed; will retry", error=repr(exc), retry_in=pause)
                    await asyncio.sleep(pause)
                    continue
                failures = 0
                if not again:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                    # cancellation that arrives as the wake-up does, and the sender would
                    # never stop.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.interval):
                            await self._wake.wait()
                await asyncio.sleep(self.gather)
        except asyncio.CancelledError:
            await self._let_inflight_finish()
            raise

    async def deliver_due(self) -> bool:
        """Start an attempt for as many due jobs as there is room for; whether to look again
        at once (more are due and there is still room)."""
        now = asyncio.get_running_loop().time()
        due_sweep = self._swept_at is not None and now - self._swept_at >= self.sweep
        if self.unsure or due_sweep:  # between rounds no claim of this sender is under way
            await self.notifier.release_unstarted(set(self._inflight))
            self.unsure = False
            self._swept_at = now
        elif self._swept_at is None:
            self._swept_at = now
        room = self.concurrency - len(self._inflight)
        if room <= 0:
            return False
        notifier = self.notifier
        if notifier.poll_wanted or now - self._polled_at >= self.interval:
            self._polled_at = now
            batch = await notifier.claim_due(room, set(self._inflight))
        elif notifier.fresh:  # only what this process recorded: no look in the database
            batch = await notifier.claim_fresh(room, set(self._inflight))
        else:  # an attempt ended and made nothing due: nothing to look for
            return False
        for claimed in batch.claimed:
            self._start(claimed)
        return batch.more and len(self._inflight) < self.concurrency

    def _start(self, claimed: Claimed) -> None:
        key = claimed.job.id
        if claimed.after is None:
            attempt = self.notifier.attempt(claimed)
        else:  # after the earlier step's attempt here (None: it has ended already)
            attempt = self.notifier.attempt_after(self._inflight.get(claimed.after), claimed)
        task = asyncio.create_task(attempt)
        self.started += 1
        self._inflight[key] = task
        task.add_done_callback(functools.partial(self._done, key))

    def _done(self, key: str, _task: asyncio.Task[bool]) -> None:
        self._inflight.pop(key, None)
        self._wake.set()

    async def _let_inflight_finish(self) -> None:
        """On shutdown let attempts under way finish (an e-mail half sent is worse). Then
        this sender's claims left (attempts cut off, and the claims of a round the shutdown
        interrupted) are made due again at once, for another sender (or, if the database
        does not answer within ``release_wait``, when this sender's mark runs out)."""
        tasks = list(self._inflight.values())
        if tasks:
            _, unfinished = await asyncio.wait(tasks, timeout=self.graceful)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        try:
            async with asyncio.timeout(self.release_wait):
                await self.notifier.release_cut_off()
        except Exception as exc:
            log.warning("attempts cut off not released", error=repr(exc))


@dataclass
class Liveness:
    store: NotifierStore
    beat: float = 5.0
    ttl: float = 30.0
    clock: Callable[[], datetime] = utc_now
    alive: asyncio.Event = field(default_factory=asyncio.Event)  # set after the first beat
    _since: datetime | None = None  # alive without a break since

    async def once(self) -> int:
        """Renew the mark, then take back dead senders' jobs if allowed; how many."""
        now = self.clock()
        try:
            await self.store.beat(stamp(now + timedelta(seconds=self.ttl)))
        except Exception as exc:
            self._since = None
            log.warning("could not renew the sender's mark of life", error=repr(exc))
            return 0
        self.alive.set()
        if self._since is None:
            self._since = now
        if (now - self._since).total_seconds() < self.ttl:
            return 0
        taken = await self.store.release_dead(stamp(now))
        if taken:
            log.warning("took back the jobs of a sender that stopped", jobs=taken)
        return taken

    async def run(self) -> None:
        """Until cancelled. On shutdown the mark simply runs out: what the sender cut off
        is taken back by the others ``ttl`` seconds later."""
        while True:
            try:
                async with asyncio.timeout(self.ttl):
                    await self.once()
            except Exception as exc:
                log.warning("could not take back dead senders' jobs", error=repr(exc))
            await asyncio.sleep(self.beat)
