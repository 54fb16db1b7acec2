"""Dispatcher's background loop: housekeeping that the service only learns is due by looking.

Capacity appears with a new Asia/Baku day or a team imported or changed, a crash may
leave a closed work order's stock change unfinished, and open work orders pass their due
dates; every ``interval`` seconds the loop settles pending stock, then assigns waiting
work orders, offers again the work orders no queue of their team took, announces the newly
overdue ones, and on a new day forgets old team-day counts (all are use cases).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from services.dispatcher.usecases import Dispatcher

log = structlog.get_logger("meter.dispatcher")


@dataclass
class Housekeeping:
    dispatcher: Dispatcher
    interval: float = 5.0

    async def run_once(self) -> None:
        await self.dispatcher.settle_pending()
        await self.dispatcher.assign_waiting()
        await self.dispatcher.resend_unrouted()
        await self.dispatcher.announce_overdue()
        await self.dispatcher.forget_old_days()

    async def run(self) -> None:
        """Every ``interval`` seconds, for ever; a failed round is logged and retried."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed; will retry")
            await asyncio.sleep(self.interval)
