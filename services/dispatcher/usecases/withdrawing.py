"""A citizen withdraws an application before a team is assigned
(``dispatcher.withdraw_application``).

One version-guarded write closes the waiting work order as ``withdrawn``, marks its meter
for release and adds ``application.withdrawn`` to its outbox; the meter and any team-day
slot are given back right after, or by housekeeping if the dispatcher stops in between.
A withdrawal racing another write (an assignment, another copy of the withdrawal, an
overdue announcement) reads the work order again and answers by what won: withdrawn,
``cannot_withdraw`` (assigned) or ``withdrawn`` again (the other copy's withdrawal).

A withdrawal that arrives before the dispatcher has seen ``application.registered``
(within moments of registration) answers ``not_found``: the dispatcher cannot tell an
application it has not received from one that does not exist, and nothing it has not
received can be given back. The portal may ask again a moment later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.dispatcher.domain import teams, withdrawals
from services.dispatcher.domain.withdrawals import Verdict
from services.dispatcher.domain.workorders import WITHDRAWN, WorkOrder
from services.dispatcher.store import DispatcherStore
from services.dispatcher.usecases.reporting import WRITE_ATTEMPTS, WorkOrderBusy, settle_stock
from shared.contracts.commands import WithdrawApplication
from shared.contracts.replies import Refused, Withdrawn
from shared.delivery import Outcome

log = structlog.get_logger("meter.dispatcher")


@dataclass
class Withdrawing:
    store: DispatcherStore
    clock: Callable[[], datetime]

    async def withdraw(self, command: WithdrawApplication) -> Outcome:
        """Withdraw the applicant's waiting application, or refuse in their language."""
        number = command.application_number
        structlog.contextvars.bind_contextvars(application_number=number)
        for _ in range(WRITE_ATTEMPTS):
            work_order = await self.store.work_order(number)
            found = withdrawals.verdict(number, work_order, command.applicant_fin)
            if found in (Verdict.NOT_FOUND, Verdict.CANNOT):
                reply = Refused(errors=[withdrawals.refusal(found, command.language)])
                status = None if work_order is None else work_order.get("status")
                return Outcome(reply, {"outcome": found.value, "status": status})
            assert work_order is not None
            if found is Verdict.ALREADY:
                await self.settle(work_order)  # finish what a crash may have left
                return Outcome(Withdrawn(), {"outcome": "withdrawn", "duplicate": True})
            changed, events = withdrawals.withdrawn(work_order, self.clock())
            if await self.store.save_and_publish(changed, events, replacing=work_order):
                await self.settle(changed)
                log.info("application withdrawn", meter_released=changed["meter_reserved"])
                return Outcome(Withdrawn(), {"outcome": "withdrawn"})
            # Another write won: read again and answer by what it did.
        raise WorkOrderBusy(f"work order of {number!r} kept changing")

    async def settle(self, work_order: WorkOrder) -> None:
        """Give back what a withdrawn work order holds: any team-day slot claimed for it
        today (only a crash between claiming and assigning leaves one), then its meter;
        the ``stock_pending`` mark goes last, so a crash before it is repaired again."""
        if work_order.get("status") != WITHDRAWN or "stock_pending" not in work_order:
            return
        number = work_order["_id"]
        day = teams.capacity_day(self.clock())
        known = await self.store.teams()
        loads = await self.store.team_loads(day, [team.team_id for team in known])
        for team_id, numbers in loads.items():
            if number in numbers:
                await self.store.unclaim(team_id, day, number)
        await settle_stock(self.store, work_order)
