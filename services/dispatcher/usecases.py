"""Dispatcher's use cases: dispatch registered applications, close work orders as reported,
receive stock, and the housekeeping that finishes what waits (``background`` runs it).

Each takes a typed command or event and returns the ``Outcome`` (reply and log fields);
storage is the ``DispatcherStore`` port, time comes from ``clock``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

import structlog

from services.dispatcher.domain import reports, teams, workorders
from services.dispatcher.domain.teams import Team
from services.dispatcher.domain.workorders import Application, WorkOrder
from services.dispatcher.store import DispatcherStore
from shared.clock import utc_now
from shared.contracts.commands import ReceiveStock, ReportOutcome
from shared.contracts.events import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationRegistered,
    ApplicationRejected,
    Event,
    NotificationDelivered,
    NotificationFailed,
)
from shared.contracts.reading import Refusal
from shared.contracts.replies import Accepted, Refused, StockAccepted
from shared.delivery import Outcome, new_message_id

log = structlog.get_logger("meter.dispatcher")
WRITE_ATTEMPTS = 20  # a report racing other writes to its work order tries this often


class WorkOrderBusy(Exception):
    """The work order kept changing under the report; the message is retried."""


@dataclass
class Dispatcher:
    store: DispatcherStore
    clock: Callable[[], datetime] = utc_now

    # --- application.registered --------------------------------------------------------

    async def follow(self, event: Event, correlation_id: str | None) -> Outcome:
        """Dispatch each registered application; no other event concerns the dispatcher."""
        match event:
            case ApplicationRegistered():
                return await self.register(event, correlation_id)
            case (
                ApplicationForwarded()
                | ApplicationAssigned()
                | ApplicationCompleted()
                | ApplicationRejected()
                | NotificationDelivered()
                | NotificationFailed()
            ):
                return Outcome(None, {"outcome": "ignored", "event_type": event.routing_key})
            case _:
                assert_never(event)

    async def register(self, event: ApplicationRegistered, correlation_id: str | None) -> Outcome:
        """Forward the application, then reserve a meter and assign a team (or wait)."""
        app = Application.from_event(event)
        structlog.contextvars.bind_contextvars(application_number=app.number)
        status = await self._dispatch(app, correlation_id)
        return Outcome(None, {"outcome": status, "district": app.district_code})

    async def _dispatch(self, app: Application, correlation_id: str | None) -> str:
        # A redelivered or replayed event changes nothing. Its events, if still pending,
        # are being published by the first delivery or are left to the outbox relay.
        if await self.store.work_order(app.number) is not None:
            return "duplicate"
        reserved = None
        if workorders.needs_meter(app.reason_code):
            reserved = await self.store.reserve(app.district_code, app.number)
        now = self.clock()
        work_order, events = workorders.opened(app, now, reserved, correlation_id)
        team, day = None, ""
        if work_order["status"] == workorders.WAITING:
            team, day = await self._claim_team(app.number, app.district_code, now)
            if team is not None:
                work_order, more = workorders.assigned(work_order, team, day, now)
                events = [*events, *more]
        if not await self.store.save_and_publish(work_order, events):
            await self._undo(app, reserved, team, day)  # a concurrent copy of the event won
            return "duplicate"
        if work_order["status"] == workorders.WAITING:
            log.warning("work order waits for a team with capacity", district=app.district_code)
        return str(work_order["status"])

    async def _undo(
        self, app: Application, reserved: bool | None, team: Team | None, day: str
    ) -> None:
        """Give back what a dispatch that lost to a concurrent copy took for itself."""
        stored = await self.store.work_order(app.number)
        if stored is None:
            return
        if reserved and stored.get("meter_reserved") is not True:
            await self.store.release(app.district_code, app.number)
        if team is not None:
            await self._unclaim_unless_kept(app.number, team, day)

    # --- dispatcher.report_outcome -----------------------------------------------------

    async def report(self, parsed: ReportOutcome | Refusal, message_id: str | None) -> Outcome:
        """Close the work order as reported, or refuse with every broken rule.

        A redelivered report (same ``message_id``) gets its first reply, whatever changed
        since; a write that lost a race with another is tried again on the fresh state.
        """
        for _ in range(WRITE_ATTEMPTS):
            if message_id and (answered := await self._answered(message_id)):
                return answered
            outcome = await self._close(parsed, message_id)
            if outcome is not None:
                return outcome
        names = reports.names_of(parsed)
        number = names.application_number if names else None
        raise WorkOrderBusy(f"work order of {number!r} kept changing")

    async def _answered(self, message_id: str) -> Outcome | None:
        """The first reply to a redelivered report; its stock change is finished too."""
        closed = await self.store.work_order_by_message(message_id)
        if closed is not None:
            await self.settle_stock(closed)
            reply = Accepted.model_validate(closed["report_reply"])
            return Outcome(reply, {"outcome": "accepted", "duplicate": True})
        refusal = await self.store.refusal_for(message_id)
        if refusal is None:
            return None
        return Outcome(refusal, {"outcome": "refused", "duplicate": True})

    async def _close(
        self, parsed: ReportOutcome | Refusal, message_id: str | None
    ) -> Outcome | None:
        """Close the work order as reported; None when a concurrent write got there first."""
        names = reports.names_of(parsed)
        work_order = None
        if names is not None:
            work_order = await self.store.work_order_by_id(names.work_order_id)
        errors = reports.report_errors(parsed, work_order)
        if errors or isinstance(parsed, Refusal) or work_order is None:
            reply = Refused(errors=errors)
            if message_id:
                await self.store.remember_refusal(message_id, reply)
            codes = [error.code.value for error in errors]
            return Outcome(reply, {"outcome": "refused", "codes": codes})
        accepted = Accepted()
        closed, events = workorders.reported(work_order, parsed, self.clock(), message_id, accepted)
        if not await self.store.save_and_publish(closed, events, replacing=work_order):
            return None
        await self.settle_stock(closed)
        return Outcome(accepted, {"outcome": "accepted", "report": parsed.outcome})

    # --- dispatcher.receive_stock ------------------------------------------------------

    async def receive_stock(self, command: ReceiveStock, message_id: str | None) -> Outcome:
        """Add received meters to a district's stock, once per message."""
        district = command.district_code
        receipt = message_id or new_message_id()
        in_stock = await self.store.receive(district, command.quantity, receipt)
        reply = StockAccepted(in_stock=in_stock)
        return Outcome(reply, {"outcome": "accepted", "district": district, "in_stock": in_stock})

    # --- housekeeping ------------------------------------------------------------------

    async def assign_waiting(self) -> int:
        """Assign every waiting work order a team now has capacity for; oldest first.

        One round sees the teams as they were when it began, so capacity that appears
        meanwhile goes to the oldest waiting work order in the next round.
        """
        waiting = await self.store.work_orders(status=workorders.WAITING)
        if not waiting:
            return 0
        assigned = 0
        now = self.clock()
        known = await self.store.teams()
        for work_order in waiting:
            number = work_order["_id"]
            team, day = await self._claim_team(number, work_order["district_code"], now, known)
            if team is None:
                continue
            changed, events = workorders.assigned(work_order, team, day, now)
            if not await self.store.save_and_publish(changed, events, replacing=work_order):
                await self._unclaim_unless_kept(number, team, day)
                continue
            structlog.contextvars.bind_contextvars(application_number=number)
            log.info("waiting work order assigned", team_id=team.team_id)
            structlog.contextvars.unbind_contextvars("application_number")
            assigned += 1
        return assigned

    async def settle_pending(self) -> int:
        """Finish the stock changes of closed work orders that a crash interrupted."""
        pending = await self.store.work_orders(stock_pending=True)
        for work_order in pending:
            await self.settle_stock(work_order)
        return len(pending)

    async def settle_stock(self, work_order: WorkOrder) -> None:
        """Apply a closed work order's pending stock change (idempotent), then clear it."""
        action = work_order.get("stock_pending")
        number, district = work_order["_id"], work_order["district_code"]
        if action == "consume":
            await self.store.consume(district, number)
        elif action == "release":
            await self.store.release(district, number)
        if action:
            await self.store.stock_settled(number)

    # --- team capacity -----------------------------------------------------------------

    async def _claim_team(
        self, number: str, district: str, now: datetime, known: list[Team] | None = None
    ) -> tuple[Team | None, str]:
        """Count this work order against the best team's capacity today.

        ``known``: the teams as the caller read them (else they are read now).
        """
        day = teams.capacity_day(now)
        if known is None:
            known = await self.store.teams()
        serving = [team for team in known if district in team.district_codes]
        orders = await self.store.team_loads(day, [team.team_id for team in serving])
        holder = teams.team_holding(serving, orders, number)  # a slot taken before a crash
        if holder is not None:
            return holder, day
        loads = {team_id: len(numbers) for team_id, numbers in orders.items()}
        for team in teams.rank_teams(serving, district, loads):
            if await self.store.claim(team, day, number):
                return team, day
        return None, day

    async def _unclaim_unless_kept(self, number: str, team: Team, day: str) -> None:
        stored = await self.store.work_order(number)
        if stored is None or stored.get("team_id") != team.team_id:
            await self.store.unclaim(team.team_id, day, number)
