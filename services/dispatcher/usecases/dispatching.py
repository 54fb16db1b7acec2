"""The dispatcher: dispatch registered applications, receive stock, and the housekeeping
that finishes what waits (``background`` runs it); reports are ``reporting``'s,
withdrawals ``withdrawing``'s, due dates ``deadlines``'s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import assert_never

import structlog

from services.dispatcher.domain import teams, workorders
from services.dispatcher.domain.teams import Team
from services.dispatcher.domain.workorders import Application, WorkOrder
from services.dispatcher.store import DispatcherStore
from services.dispatcher.usecases.deadlines import Deadlines
from services.dispatcher.usecases.reporting import Reporting, settle_stock
from services.dispatcher.usecases.withdrawing import Withdrawing
from shared.clock import stamp, utc_now
from shared.contracts.commands import ReceiveStock, ReportOutcome, WithdrawApplication
from shared.contracts.events import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationOverdue,
    ApplicationRegistered,
    ApplicationRejected,
    ApplicationWithdrawn,
    Event,
    NotificationDelivered,
    NotificationFailed,
)
from shared.contracts.reading import Refusal
from shared.contracts.replies import StockAccepted
from shared.delivery import Outcome, new_message_id
from shared.senders import Senders

log = structlog.get_logger("meter.dispatcher")


@dataclass(frozen=True)
class _Loads:
    district: str
    serving: list[Team]
    day: str
    orders: dict[str, list[str]]  # team id -> the numbers it holds on ``day``


class WorkOrderIdTaken(Exception):
    """Another work order has the id just drawn; the event is retried with a new one."""


@dataclass
class Dispatcher:
    """``senders``: who may report for which teams (``FIELD_USERS``)."""

    store: DispatcherStore
    clock: Callable[[], datetime] = utc_now
    senders: Senders = field(default_factory=Senders)
    reporting: Reporting = field(init=False)
    withdrawing: Withdrawing = field(init=False)
    deadlines: Deadlines = field(init=False)
    _kept_since: str = field(default="", init=False)  # the oldest team day kept

    def __post_init__(self) -> None:
        self.reporting = Reporting(self.store, self.clock, self.senders)
        self.withdrawing = Withdrawing(self.store, self.clock)
        self.deadlines = Deadlines(self.store, self.clock)

    # --- application.registered --------------------------------------------------------

    async def follow(self, event: Event, correlation_id: str | None) -> Outcome:
        """Dispatch each registered application; no other event concerns the dispatcher
        (withdrawn and overdue are its own)."""
        match event:
            case ApplicationRegistered():
                return await self.register(event, correlation_id)
            case (
                ApplicationForwarded()
                | ApplicationAssigned()
                | ApplicationCompleted()
                | ApplicationRejected()
                | ApplicationWithdrawn()
                | ApplicationOverdue()
                | NotificationDelivered()
                | NotificationFailed()
            ):
                return Outcome(None, {"outcome": "ignored", "event_type": event.routing_key})
            case _:
                assert_never(event)

    async def register(self, event: ApplicationRegistered, correlation_id: str | None) -> Outcome:
        """Forward the application, reserve a meter and assign a team (or wait)."""
        app = Application.from_event(event)
        structlog.contextvars.bind_contextvars(application_number=app.number)
        status = await self._dispatch(app, correlation_id)
        return Outcome(None, {"outcome": status, "district": app.district_code})

    async def _dispatch(self, app: Application, correlation_id: str | None) -> str:
        # A redelivered or replayed event changes nothing. Its events, if still pending,
        # are being published by the first delivery or are left to the outbox relay. It is
        # looked for before anything is taken: a copy that reserved a meter while the
        # first one's closed work order still carries ``stock_pending`` could not tell that
        # meter from the one the first consumed, and it would be consumed too.
        # The teams' loads today are read with it (two reads at once: a dispatch waits for
        # one round trip, not two); a repeat, or an application rejected for want of a
        # meter, reads them for nothing.
        now = self.clock()
        stored, loads = await asyncio.gather(
            self.store.work_order(app.number), self._team_loads(app.district_code, now)
        )
        if stored is not None:
            return "duplicate"
        reserved, (team, day) = await self._reserve_and_claim(app, loads)
        work_order, events = workorders.opened(app, now, reserved, correlation_id)
        if work_order["status"] != workorders.WAITING:  # rejected: no meter is free
            if team is not None:
                await self.store.unclaim(team.team_id, day, app.number)
            team, day = None, ""
        elif team is not None:
            work_order, more = workorders.assigned(work_order, team, day, now)
            events = [*events, *more]
        if not await self.store.save_and_publish(work_order, events):
            if await self.store.work_order(app.number) is None:
                # No concurrent copy won: the random work-order id was taken (1 in 2**64).
                # Retried, the event keeps its meter and team slot and draws a new id.
                raise WorkOrderIdTaken(work_order["work_order_id"])
            await self._undo(app, reserved, team, day)  # a concurrent copy of the event won
            return "duplicate"
        if work_order["status"] == workorders.WAITING:
            log.warning("work order waits for a team with capacity", district=app.district_code)
        return str(work_order["status"])

    async def _reserve_and_claim(
        self, app: Application, loads: _Loads
    ) -> tuple[bool | None, tuple[Team | None, str]]:
        """Reserve a meter (None when the reason needs none) and claim a team's slot at
        once: a dispatch waits for one round trip, not two.

        A meter found missing rejects the application, and the caller gives the slot back
        before the work order is stored; until then the slot counts against the team (a
        dispatch at the same moment may find the team full and wait for the next round).
        Should one of the two fail, the other is left as it is: both are idempotent per
        application, and the message's retry finds them held.
        """
        if not workorders.needs_meter(app.reason_code):
            return None, await self._claim_in(app.number, loads)
        reserving, claiming = await asyncio.gather(
            self.store.reserve(app.district_code, app.number),
            self._claim_in(app.number, loads),
            return_exceptions=True,
        )
        if isinstance(reserving, BaseException):
            raise reserving
        if isinstance(claiming, BaseException):
            raise claiming
        return reserving, claiming

    async def _undo(
        self, app: Application, reserved: bool | None, team: Team | None, day: str
    ) -> None:
        """Give back what a dispatch that lost to a concurrent copy took for itself."""
        stored = await self.store.work_order(app.number)
        if stored is None:
            return
        # The winner may have been withdrawn or closed and its meter given back already,
        # before this copy reserved one again under the same number.
        if reserved and not workorders.holds_meter(stored):
            await self.store.release(app.district_code, app.number)
        if team is not None:
            await self._unclaim_unless_kept(app.number, team, day)

    # --- dispatcher.report_outcome -----------------------------------------------------

    async def report(
        self, parsed: ReportOutcome | Refusal, message_id: str | None, user_id: str | None
    ) -> Outcome:
        """Close the work order as reported (``reporting.Reporting.report``)."""
        return await self.reporting.report(parsed, message_id, user_id)

    # --- dispatcher.withdraw_application ----------------------------------------------

    async def withdraw(self, command: WithdrawApplication) -> Outcome:
        """Withdraw a waiting application (``withdrawing.Withdrawing.withdraw``)."""
        return await self.withdrawing.withdraw(command)

    # --- dispatcher.receive_stock ------------------------------------------------------

    async def receive_stock(self, command: ReceiveStock, message_id: str | None) -> Outcome:
        """Add received meters to a district's stock, once per message (for 8 days).

        A receipt counted before adds nothing and answers the free meters now.
        """
        district = command.district_code
        receipt = message_id or new_message_id()
        got = await self.store.receive(district, command.quantity, receipt, self.clock())
        log_fields = {"outcome": "accepted", "district": district, "in_stock": got.in_stock}
        if not got.counted:
            log_fields["duplicate"] = True
        return Outcome(StockAccepted(in_stock=got.in_stock), log_fields)

    # --- housekeeping ------------------------------------------------------------------

    async def forget_old_days(self) -> int:
        """Drop team-day counts older than ``teams.TEAM_DAYS_KEPT`` (once per new day)."""
        oldest = teams.oldest_day_kept(self.clock())
        if oldest == self._kept_since:
            return 0
        forgotten = await self.store.forget_team_days(oldest)
        self._kept_since = oldest
        return forgotten

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
        """Finish the stock changes of closed work orders that a crash interrupted
        (a withdrawn one gives back its team-day slot too)."""
        pending = await self.store.work_orders(stock_pending=True)
        for work_order in pending:
            if work_order.get("status") == workorders.WITHDRAWN:
                await self.withdrawing.settle(work_order)
            else:
                await self.settle_stock(work_order)
        return len(pending)

    async def resend_unrouted(self) -> int:
        """Offer again to its team each assigned work order whose message no queue of the
        team took (``DispatcherStore.mark_unrouted``) and whose next offer is due, until a
        queue takes it: a field app that binds its queue late still gets it. The offers
        grow apart (``workorders.next_offer``: 15 s after it came back, then each time
        after as long again as it has waited, at most 5 min apart). Each is taken by
        moving its next offer first, so two dispatchers never both send it; how many a
        queue took."""
        now = self.clock()
        due = await self.store.unrouted(stamp(now))
        taken = 0
        for work_order in due:
            offer_at = stamp(workorders.next_offer(_came_back(work_order, now), now))
            if not await self.store.move_unrouted(work_order, offer_at):
                continue  # another dispatcher has it
            if not await self.store.send_to_field(workorders.field_work_order(work_order)):
                continue  # still no queue of the team: offered again at ``offer_at``
            await self.store.move_unrouted({**work_order, "offer_at": offer_at}, None)
            structlog.contextvars.bind_contextvars(application_number=work_order["_id"])
            log.info(
                "work order sent again: a queue of its team took it",
                team_id=work_order.get("team_id"),
                work_order_id=work_order["work_order_id"],
                came_back_at=work_order.get("unrouted_at"),
            )
            structlog.contextvars.unbind_contextvars("application_number")
            taken += 1
        return taken

    async def announce_overdue(self) -> int:
        """Publish ``application.overdue`` once for each open work order past due."""
        return await self.deadlines.announce_overdue()

    async def settle_stock(self, work_order: WorkOrder) -> None:
        await settle_stock(self.store, work_order)

    # --- team capacity -----------------------------------------------------------------

    async def _claim_team(
        self, number: str, district: str, now: datetime, known: list[Team] | None = None
    ) -> tuple[Team | None, str]:
        """Count this work order against the best team's capacity today.

        ``known``: the teams as the caller read them (else they are read now).
        """
        return await self._claim_in(number, await self._team_loads(district, now, known))

    async def _team_loads(
        self, district: str, now: datetime, known: list[Team] | None = None
    ) -> _Loads:
        """The teams serving ``district`` and the work orders each holds on today's
        capacity day."""
        day = teams.capacity_day(now)
        if known is None:
            known = await self.store.teams()
        serving = [team for team in known if district in team.district_codes]
        if not serving:  # perhaps imported since the teams were read: read them again
            known = await self.store.teams(fresh=True)
            serving = [team for team in known if district in team.district_codes]
        orders = await self.store.team_loads(day, [team.team_id for team in serving])
        return _Loads(district, serving, day, orders)

    async def _claim_in(self, number: str, loads_of: _Loads) -> tuple[Team | None, str]:
        """Count this work order against the best of ``loads_of``'s teams (fewest work
        orders today first), on their day."""
        serving, day, orders = loads_of.serving, loads_of.day, loads_of.orders
        holder = teams.team_holding(serving, orders, number)  # a slot taken before a crash
        if holder is not None:
            return holder, day
        counts = {team_id: len(numbers) for team_id, numbers in orders.items()}
        for team in teams.rank_teams(serving, loads_of.district, counts):
            if await self.store.claim(team, day, number):
                return team, day
        return None, day

    async def _unclaim_unless_kept(self, number: str, team: Team, day: str) -> None:
        """Give back ``team``'s slot on ``day`` unless the stored work order counts on it
        (one stored before ``assigned_day`` was kept counts on the day it is seen)."""
        stored = await self.store.work_order(number)
        if (
            stored is None
            or stored.get("team_id") != team.team_id
            or stored.get("assigned_day", day) != day
        ):
            await self.store.unclaim(team.team_id, day, number)


def _came_back(work_order: WorkOrder, now: datetime) -> datetime:
    """When the work order's message came back (``unrouted_at``); ``now`` if it carries no
    readable time (written by hand): its offers then start again from 15 s apart."""
    try:
        came_back = datetime.fromisoformat(str(work_order["unrouted_at"]))
    except (KeyError, ValueError):
        return now
    return came_back if came_back.tzinfo is not None else came_back.replace(tzinfo=UTC)
