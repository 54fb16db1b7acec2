"""Housekeeping announces each open work order past its due date once (``application.overdue``).

The announcement is a version-guarded write of the work order with the event in its
outbox: of several dispatchers, or of an announcement racing an assignment, a report or a
withdrawal, exactly one write wins. A lost announcement is looked at again in the next
round, when the work order may be closed (and is then never announced).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.dispatcher.domain import deadlines
from services.dispatcher.store import DispatcherStore

log = structlog.get_logger("meter.dispatcher")


@dataclass
class Deadlines:
    store: DispatcherStore
    clock: Callable[[], datetime]

    async def announce_overdue(self) -> int:
        """Publish ``application.overdue`` for each open work order newly past due; how many."""
        now = self.clock()
        today = deadlines.baku_date(now)
        announced = 0
        for work_order in await self.store.past_due(today.isoformat(), unannounced=True):
            if not deadlines.to_announce(work_order, today):
                continue
            changed, events = deadlines.announced(work_order, now)
            if not await self.store.save_and_publish(changed, events, replacing=work_order):
                continue  # another write won; the next round looks again
            number = work_order["_id"]
            log.warning(
                "application overdue",
                application_number=number,
                due_by=work_order["due_by"],
                district=work_order["district_code"],
                team_id=work_order.get("team_id"),
            )
            announced += 1
        return announced
