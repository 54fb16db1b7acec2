"""A field team's report closes its work order (``dispatcher.report_outcome``).

The sender must act for the team the report names; a redelivered report gets its first
reply; concurrent copies of one report all get the reply of the copy that closed the work
order; a write that lost a race is tried again on the fresh work order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.dispatcher.domain import reports, workorders
from services.dispatcher.domain.workorders import WorkOrder
from services.dispatcher.store import DispatcherStore
from shared.contracts.commands import ReportOutcome
from shared.contracts.reading import Refusal
from shared.contracts.replies import Accepted, Refused
from shared.delivery import Outcome
from shared.senders import Senders

log = structlog.get_logger("meter.dispatcher")
WRITE_ATTEMPTS = 20  # a report racing other writes to its work order tries this often


class WorkOrderBusy(Exception):
    """The work order kept changing under the report; the message is retried."""


@dataclass
class Reporting:
    store: DispatcherStore
    clock: Callable[[], datetime]
    senders: Senders

    async def report(
        self, parsed: ReportOutcome | Refusal, message_id: str | None, user_id: str | None
    ) -> Outcome:
        """Close the work order as reported, or refuse with every broken rule.

        First, ``user_id`` must be one of the named team's field apps: otherwise the
        report is ``forbidden``, with no effect and nothing stored, so the same
        ``message_id`` sent by a user who may act for the team is answered on its own.
        A redelivered report (same ``message_id``) gets its first reply, whatever changed
        since; a write that lost a race with another is tried again on the fresh state.
        """
        team = reports.team_named(parsed)
        if team is not None and not self.senders.may_act_for(user_id, team):
            return self._forbidden(user_id, team)
        names = reports.names_of(parsed)
        for _ in range(WRITE_ATTEMPTS):
            work_order = await self.store.work_order_by_id(names.work_order_id) if names else None
            answered = await self._answered(message_id, names is None, work_order)
            if answered is not None:
                return answered
            outcome = await self._close(parsed, message_id, work_order)
            if outcome is not None:
                return outcome
        number = names.application_number if names else None
        raise WorkOrderBusy(f"work order of {number!r} kept changing")

    @staticmethod
    def _forbidden(user_id: str | None, team: str) -> Outcome:
        log.warning("a report for a team its sender may not act for", user_id=user_id, team_id=team)
        reply = Refused(errors=[reports.forbidden_team()])
        return Outcome(reply, {"outcome": "forbidden", "user_id": user_id, "team_id": team})

    async def _answered(
        self, message_id: str | None, unnamed: bool, work_order: WorkOrder | None
    ) -> Outcome | None:
        """The first reply to a redelivered report; its stock change is finished too.

        A report that names its work order finds an acceptance there (``_close``), and
        whether a refusal of it may be stored (``reports.may_have_refused``): a report
        waits for that one read alone. Only an ``unnamed`` one is looked for by its message
        id, and a refusal is read where the work order is unknown or lists the message.
        """
        if not message_id:
            return None
        if unnamed:
            closed = await self.store.work_order_by_message(message_id)
            if closed is not None:
                return await self._first_reply(closed)
        elif work_order is not None and not reports.may_have_refused(work_order, message_id):
            return None
        refusal = await self.store.refusal_for(message_id)
        if refusal is None:
            return None
        return Outcome(refusal, {"outcome": "refused", "duplicate": True})

    async def _close(
        self, parsed: ReportOutcome | Refusal, message_id: str | None, work_order: WorkOrder | None
    ) -> Outcome | None:
        """Close ``work_order`` (the one the report names, as read) as reported; None when a
        concurrent write got there first."""
        if reports.closed_by(work_order, message_id):
            assert work_order is not None  # a concurrent copy of this report closed it
            return await self._first_reply(work_order)
        errors = reports.report_errors(parsed, work_order)
        if errors or isinstance(parsed, Refusal) or work_order is None:
            reply = Refused(errors=errors)
            if message_id:
                listed = work_order if reports.lists_refusals(work_order) else None
                await self.store.remember_refusal(message_id, reply, listed)
            codes = [error.code.value for error in errors]
            return Outcome(reply, {"outcome": "refused", "codes": codes})
        accepted = Accepted()
        closed, events = workorders.reported(work_order, parsed, self.clock(), message_id, accepted)
        if not await self.store.save_and_publish(closed, events, replacing=work_order):
            return None
        await settle_stock(self.store, closed)
        return Outcome(accepted, {"outcome": "accepted", "report": parsed.outcome})

    async def _first_reply(self, closed: WorkOrder) -> Outcome:
        """The reply of the report that closed ``closed``; its stock change is finished too."""
        await settle_stock(self.store, closed)
        reply = Accepted.model_validate(closed["report_reply"])
        return Outcome(reply, {"outcome": "accepted", "duplicate": True})


async def settle_stock(store: DispatcherStore, work_order: WorkOrder) -> None:
    """Apply a closed work order's pending stock change (idempotent), then clear it."""
    action = work_order.get("stock_pending")
    number, district = work_order["_id"], work_order["district_code"]
    if action == "consume":
        await store.consume(district, number)
    elif action == "release":
        await store.release(district, number)
    if action:
        await store.stock_settled(number)
