"""The background sender: the loop that delivers due jobs beside the consumer.

The consumer records jobs and acknowledges; this loop looks for due jobs every
``interval`` seconds (or at once when woken), claims each through the use case and sends
it in its own task, at most ``concurrency`` at a time, so a slow or failing provider
never holds up the others. On shutdown attempts under way get ``graceful`` seconds to
finish; what is cut off is taken back by another sender when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field

import structlog

from services.notifier.usecases import Notifier

log = structlog.get_logger("meter.notifier")


@dataclass
class Sender:
    notifier: Notifier
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
        for job in await self.notifier.due(room, set(self._inflight)):
            claimed = await self.notifier.claim(job)
            if claimed is None:
                continue
            key = claimed.job.id
            task = asyncio.create_task(self.notifier.attempt(claimed))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._done, key))
            started += 1
        return started

    def _done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self._wake.set()

    async def _let_inflight_finish(self) -> None:
        """On shutdown let attempts under way finish (an e-mail half sent is worse)."""
        tasks = list(self._inflight.values())
        if not tasks:
            return
        _, unfinished = await asyncio.wait(tasks, timeout=self.graceful)
        for task in unfinished:
            task.cancel()  # its lease runs out and another sender retries it
        await asyncio.gather(*unfinished, return_exceptions=True)
