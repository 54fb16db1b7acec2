"""An in-memory ``DispatcherStore``: fast use-case tests, checked against MongoDB by the
contract suite (``test_store_contract``); and what it published, read like ``EventLog``."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from services.dispatcher.domain import stock as meters
from services.dispatcher.domain import teams as capacity
from services.dispatcher.domain import workorders
from services.dispatcher.domain.changes import Change, Document
from services.dispatcher.domain.teams import Team
from services.dispatcher.domain.workorders import Message, WorkOrder
from shared.contracts.events import ApplicationEvent, event_body
from shared.contracts.field import WorkOrderAssigned
from shared.contracts.replies import Refused


class MemoryDispatcherStore:
    def __init__(self) -> None:
        self.team_rows: dict[str, Team] = {}
        self.team_days: dict[str, Document] = {}
        self.stock: dict[str, Document] = {}
        self.documents: dict[str, WorkOrder] = {}  # work orders by application number
        self.refusals: dict[str, Refused] = {}
        self.published: list[ApplicationEvent] = []  # on meter.events
        self.field_published: list[WorkOrderAssigned] = []  # on meter.field
        # Teams with a queue bound on meter.field (None: every team), for ``send_to_field``.
        self.bound_teams: set[str] | None = None
        # Runs before each work-order write: a test's concurrent writer.
        self.before_save: Callable[[], Awaitable[None]] | None = None

    async def ensure_indexes(self) -> None:
        return None

    # --- teams and their capacity ------------------------------------------------------

    async def teams(self, *, fresh: bool = False) -> list[Team]:
        return [self.team_rows[key] for key in sorted(self.team_rows)]

    async def upsert_teams(self, teams: Sequence[Team]) -> int:
        self.team_rows.update({team.team_id: team for team in teams})
        return len(teams)

    async def team_loads(self, day: str, team_ids: Sequence[str]) -> dict[str, list[str]]:
        return {
            row["team_id"]: list(row.get("orders") or [])
            for row in self.team_days.values()
            if row["day"] == day and row["team_id"] in team_ids
        }

    async def claim(self, team: Team, day: str, number: str) -> bool:
        key = capacity.team_day_id(team.team_id, day)
        return bool(
            self._change(self.team_days, key, lambda d: capacity.claim(team, day, d, number))
        )

    async def unclaim(self, team_id: str, day: str, number: str) -> bool:
        key = capacity.team_day_id(team_id, day)
        return bool(self._change(self.team_days, key, lambda d: capacity.unclaim(d, number)))

    async def forget_team_days(self, before: str) -> int:
        old = [key for key, row in self.team_days.items() if row["day"] < before]
        for key in old:
            del self.team_days[key]
        return len(old)

    # --- meter stock per district ------------------------------------------------------

    async def reserve(self, district: str, number: str) -> bool:
        return bool(
            self._change(self.stock, district, lambda d: meters.reserve(district, d, number))
        )

    async def release(self, district: str, number: str) -> bool:
        return bool(
            self._change(self.stock, district, lambda d: meters.release(district, d, number))
        )

    async def consume(self, district: str, number: str) -> bool:
        return bool(
            self._change(self.stock, district, lambda d: meters.consume(district, d, number))
        )

    async def receive(
        self, district: str, quantity: int, receipt: str, at: datetime
    ) -> meters.Receipt:
        change = lambda d: meters.receive(district, d, quantity, receipt, at)  # noqa: E731
        found: meters.Receipt = self._change(self.stock, district, change)
        return found

    async def stock_levels(self) -> list[meters.StockLevel]:
        return [meters.stock_level(key, self.stock[key]) for key in sorted(self.stock)]

    # --- work orders -------------------------------------------------------------------

    async def work_order(self, number: str) -> WorkOrder | None:
        return copy.deepcopy(self.documents.get(number))

    async def work_order_by_id(self, work_order_id: str) -> WorkOrder | None:
        return self._find(lambda document: document["work_order_id"] == work_order_id)

    async def work_order_by_message(self, message_id: str) -> WorkOrder | None:
        return self._find(lambda document: document.get("report_message_id") == message_id)

    async def work_orders(
        self, *, status: str | None = None, stock_pending: bool = False, limit: int = 200
    ) -> list[WorkOrder]:
        found = [
            document
            for document in self.documents.values()
            if (status is None or document.get("status") == status)
            and (not stock_pending or "stock_pending" in document)
        ]
        found.sort(key=lambda document: (document["created_at"], document["_id"]))
        return copy.deepcopy(found[:limit])

    async def count_work_orders(self, status: str) -> int:
        return sum(1 for document in self.documents.values() if document.get("status") == status)

    async def past_due(
        self, day: str, *, unannounced: bool = False, limit: int = 1000
    ) -> list[WorkOrder]:
        found = [
            document
            for document in self.documents.values()
            if document.get("status") in workorders.OPEN
            and isinstance(document.get("due_by"), str)
            and document["due_by"] < day
            and not (unannounced and "overdue_at" in document)
        ]
        found.sort(key=lambda document: (document["due_by"], document["_id"]))
        return copy.deepcopy(found[:limit])

    async def save_and_publish(
        self,
        work_order: WorkOrder,
        messages: Sequence[Message],
        *,
        replacing: WorkOrder | None = None,
    ) -> bool:
        if self.before_save is not None:
            await self.before_save()
        # From here on one step, as a database write is: nothing awaited, nothing patched.
        number = work_order["_id"]
        stored = self.documents.get(number)
        if replacing is None:
            order_id = work_order["work_order_id"]
            taken = self._find(lambda document: document["work_order_id"] == order_id)
            if stored is not None or taken is not None:
                return False
            version = 1
        else:
            if stored is None or stored["version"] != replacing["version"]:
                return False
            version = replacing["version"] + 1
        message_id = work_order.get("report_message_id")
        if message_id is not None:
            holder = self._find(lambda document: document.get("report_message_id") == message_id)
            assert holder is None or holder["_id"] == number, "report_message_id is unique"
        self.documents[number] = copy.deepcopy({**work_order, "version": version})
        for message in messages:
            if isinstance(message, WorkOrderAssigned):
                self.field_published.append(message)
            else:
                self.published.append(message)
        return True

    async def stock_settled(self, number: str) -> None:
        self.documents[number].pop("stock_pending", None)

    async def flush_settled(self) -> None:
        return None

    # --- work orders no queue of their team took -----------------------------------------

    async def mark_unrouted(self, number: str, work_order_id: str, at: str, offer_at: str) -> bool:
        stored = self.documents.get(number)
        if stored is None or stored["work_order_id"] != work_order_id:
            return False
        if stored.get("status") != workorders.ASSIGNED:
            return False
        stored.update(unrouted_at=at, offer_at=offer_at)
        stored["version"] += 1
        return True

    async def unrouted(self, now: str, limit: int = 100) -> list[WorkOrder]:
        found = [
            document
            for document in self.documents.values()
            if document.get("status") == workorders.ASSIGNED
            and isinstance(document.get("offer_at"), str)
            and document["offer_at"] <= now
        ]
        found.sort(key=lambda document: (document["offer_at"], document["_id"]))
        return copy.deepcopy(found[:limit])

    async def count_unrouted(self) -> int:
        return sum(
            1
            for document in self.documents.values()
            if document.get("status") == workorders.ASSIGNED and "offer_at" in document
        )

    async def move_unrouted(self, work_order: WorkOrder, offer_at: str | None) -> bool:
        stored = self.documents.get(work_order["_id"])
        if stored is None or stored.get("offer_at") != work_order.get("offer_at"):
            return False
        if offer_at is None:
            stored.pop("unrouted_at", None)
            stored.pop("offer_at", None)
        else:
            stored["offer_at"] = offer_at
        stored["version"] += 1
        return True

    async def send_to_field(self, message: WorkOrderAssigned) -> bool:
        if self.bound_teams is not None and message.team_id not in self.bound_teams:
            return False
        self.field_published.append(message)
        return True

    # --- refused reports ---------------------------------------------------------------

    async def refusal_for(self, message_id: str) -> Refused | None:
        return self.refusals.get(message_id)

    async def remember_refusal(
        self, message_id: str, reply: Refused, listed: WorkOrder | None = None
    ) -> None:
        stored = None if listed is None else self.documents.get(listed["_id"])
        if stored is not None and message_id not in stored.get("refused_reports", [message_id]):
            stored["refused_reports"] = [*stored["refused_reports"], message_id]
            stored["version"] += 1
        self.refusals.setdefault(message_id, reply)

    # --- helpers -----------------------------------------------------------------------

    def _find(self, matches: Callable[[WorkOrder], bool]) -> WorkOrder | None:
        for document in self.documents.values():
            if matches(document):
                return copy.deepcopy(document)
        return None

    @staticmethod
    def _change(
        documents: dict[str, Document], key: str, change: Callable[[Document | None], Change]
    ) -> Any:
        current = copy.deepcopy(documents.get(key))
        new, result = change(current)
        if new is not None:
            version = (current or {}).get("version", 0) + 1
            documents[key] = {**new, "_id": key, "version": version}
        return result


class PublishedEvents:
    """The events the in-memory store published, as ``tests.support.amqp.EventLog`` has them.

    In-process handling is finished when the call returns, so waiting never waits: a
    missing event fails at once.
    """

    def __init__(self, store: MemoryDispatcherStore) -> None:
        self.store = store

    def bodies(self, routing_key: str | None = None) -> list[dict[str, Any]]:
        return [
            event_body(event)
            for event in self.store.published
            if routing_key is None or event.routing_key == routing_key
        ]

    async def wait_for(self, routing_key: str, count: int = 1) -> list[dict[str, Any]]:
        bodies = self.bodies(routing_key)
        assert len(bodies) >= count, (
            f"expected {count} {routing_key} event(s), got {len(bodies)}: "
            f"{[event.routing_key for event in self.store.published]}"
        )
        return bodies
