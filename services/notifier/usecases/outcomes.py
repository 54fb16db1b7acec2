"""Storing what came of an attempt: in place, until it is stored, never by sending again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.notifier.domain import jobs
from services.notifier.domain.jobs import Job, NotificationOutcome, RetryPolicy
from services.notifier.store import NotifierStore
from shared.clock import stamp

log = structlog.get_logger("meter.notifier")


@dataclass
class Outcomes:
    store: NotifierStore
    policy: RetryPolicy
    clock: Callable[[], datetime]
    sleep: Callable[[float], Awaitable[None]]
    woke: Callable[[], None] = lambda: None  # jobs were made due that only a poll finds

    async def settle(self, current: Job, new: Job) -> bool:
        """Store an attempt's outcome, retrying in place until it is stored: never by
        sending again. Jobs that waited for a finished one become due at once. False when
        the job had changed (another sender took it back): nothing stored."""
        event = jobs.outcome_event(new, self.clock()) if new.final else None
        failures = 0
        while True:
            try:
                # A database that never answers must not hold the outcome (and the job's
                # lease) forever: unanswered is failed, and tried again.
                async with asyncio.timeout(self.policy.store_wait):
                    followers = await self._write(current, new, event)
                    if followers is None and failures and await self._holds(new):
                        followers = ()  # our write went through; only its answer was lost
                break
            except Exception as exc:
                failures += 1
                pause = self.policy.store_delay(failures)
                log.warning(
                    "outcome not stored yet; retrying in place",
                    job=current.id,
                    state=new.state,
                    error=f"{type(exc).__name__}: {exc}",
                    retry_in=pause,
                )
                await self.sleep(pause)
        if followers is None:
            log.warning("job changed while its outcome was stored", job=current.id)
            return False
        if followers:
            await self._wake_followers(followers)
        if new.final:
            log.info(
                "notification " + new.state,
                application_number=new.application_number,
                step=new.event,
                channel=new.channel,
                attempts=new.attempts,
                error=new.error,
            )
        return True

    async def _write(
        self, current: Job, new: Job, event: NotificationOutcome | None
    ) -> tuple[str, ...] | None:
        if event is None:
            return () if await self.store.replace(current, new) else None
        return await self.store.save_and_publish(current, new, event)

    async def _holds(self, new: Job) -> bool:
        stored = await self.store.job(new.id)
        return (
            stored is not None
            and stored.state == new.state
            and stored.updated_at == new.updated_at
            and stored.version >= new.version
        )

    async def _wake_followers(self, followers: Collection[str]) -> None:
        try:
            await self.store.make_due(followers, "pending", stamp(self.clock()))
            self.woke()
        except Exception as exc:  # they look again by themselves after order_recheck
            log.warning("next steps not woken", jobs=list(followers), error=str(exc))
