"""Routing registered applications to field teams, and keeping stock in step with them.

``Dispatcher`` is shared by the handlers and the background loop that assigns waiting
work orders (capacity appears with a new Baku day or a team import, which the service
only learns by looking) and settles stock a crash left pending.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from services.dispatcher import domain, workorders
from services.dispatcher.store import DispatcherStore, WorkOrderExists
from shared.outbox import Outbox

log = structlog.get_logger("meter.dispatcher")
Document = dict[str, Any]


@dataclass
class Dispatcher:
    store: DispatcherStore
    outbox: Outbox
    clock: Callable[[], datetime]
    interval: float = 5.0

    async def register(self, app: workorders.Application, correlation_id: str | None) -> str:
        """Forward the application, then reserve a meter and assign a team (or wait)."""
        # A redelivered or replayed event changes nothing. Its events, if still pending,
        # are being published by the first delivery or are left to the outbox relay.
        if await self.store.work_order(app.number) is not None:
            return "duplicate"
        reserved = None
        if domain.needs_meter(app.reason_code):
            reserved = await self.store.reserve(app.district_code, app.number)
        document = workorders.opened(app, self.clock(), reserved, correlation_id)
        team, day = None, ""
        if document["status"] == "waiting":
            team, day = await self._claim_team(app.number, app.district_code)
            if team is not None:
                document = workorders.assigned(document, team, day, self.clock())
        try:
            await self.store.insert_work_order(document)
        except WorkOrderExists:  # a concurrent copy of the event won
            await self._undo(app, reserved, team, day)
            return "duplicate"
        if document["status"] == "waiting":
            log.warning("work order waits for a team with capacity", district=app.district_code)
        await self.publish(document)
        return str(document["status"])

    async def assign_waiting(self) -> int:
        """Assign every waiting work order a team now has capacity for; oldest first."""
        assigned = 0
        for document in await self.store.work_orders_where({"status": "waiting"}):
            number = document["_id"]
            team, day = await self._claim_team(number, document["district_code"])
            if team is None:
                continue
            changed = workorders.assigned(document, team, day, self.clock())
            if not await self.store.replace_work_order(document, changed):
                await self._unclaim_unless_kept(number, team, day)
                continue
            structlog.contextvars.bind_contextvars(application_number=number)
            log.info("waiting work order assigned", team_id=team.team_id)
            structlog.contextvars.unbind_contextvars("application_number")
            await self.publish(changed)
            assigned += 1
        return assigned

    async def settle_stock(self, document: Document) -> None:
        """Apply a closed work order's pending stock change (idempotent), then clear it."""
        action = document.get("stock_pending")
        if action == "consume":
            await self.store.consume(document["district_code"], document["_id"])
        elif action == "release":
            await self.store.release(document["district_code"], document["_id"])
        if action:
            await self.store.stock_settled(document["_id"])

    async def settle_pending(self) -> None:
        for document in await self.store.work_orders_where({"stock_pending": {"$exists": True}}):
            await self.settle_stock(document)

    async def publish(self, document: Document) -> None:
        if not document.get("outbox"):
            return
        try:
            await self.outbox.flush(self.store.work_orders, document)
        except Exception as exc:  # stored already: the relay publishes it later
            log.warning("events left to the outbox relay", error=f"{type(exc).__name__}: {exc}")

    async def run(self) -> None:
        """Every ``interval`` seconds: assign waiting work orders, settle pending stock."""
        while True:
            try:
                await self.settle_pending()
                await self.assign_waiting()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("housekeeping failed; will retry")
            await asyncio.sleep(self.interval)

    async def _claim_team(self, number: str, district: str) -> tuple[domain.Team | None, str]:
        """Count this work order against the best team's capacity today."""
        day = domain.capacity_day(self.clock())
        teams = [team for team in await self.store.teams() if district in team.district_codes]
        orders = await self.store.team_loads(day, [team.team_id for team in teams])
        for team in teams:  # a slot taken before a crash is this work order's
            if number in orders.get(team.team_id, []):
                return team, day
        loads = {team_id: len(numbers) for team_id, numbers in orders.items()}
        for team in domain.rank_teams(teams, district, loads):
            if await self.store.claim(team, day, number):
                return team, day
        return None, day

    async def _unclaim_unless_kept(self, number: str, team: domain.Team, day: str) -> None:
        stored = await self.store.work_order(number)
        if stored is None or stored.get("team_id") != team.team_id:
            await self.store.unclaim(team.team_id, day, number)

    async def _undo(
        self,
        app: workorders.Application,
        reserved: bool | None,
        team: domain.Team | None,
        day: str,
    ) -> None:
        """Give back what a dispatch that lost to a concurrent copy took for itself."""
        stored = await self.store.work_order(app.number)
        if stored is None:
            return
        if reserved and stored.get("meter_reserved") is not True:
            await self.store.release(app.district_code, app.number)
        if team is not None:
            await self._unclaim_unless_kept(app.number, team, day)
