"""What the dispatcher's use cases need from storage (a port; ``mongo.py`` is the adapter).

Teams, their daily capacity, each district's meter stock, work orders and the refusals
reports got. Shared documents (team days, stock) change as the pure functions of
``domain`` say (the stock's reserve, consume and release as one conditional update in
the adapter, with the same answers), so reserving, consuming and releasing stay
idempotent per application and stock never goes negative, however many dispatchers race.
``save_and_publish`` stores a work order together with its messages (events on
``meter.events``, work orders on ``meter.field``) in one write, then publishes them (or
leaves them to the outbox relay).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.dispatcher.domain.stock import Receipt, StockLevel
from services.dispatcher.domain.teams import Team
from services.dispatcher.domain.workorders import Message, WorkOrder
from shared.contracts.field import WorkOrderAssigned
from shared.contracts.replies import Refused


class DispatcherStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    # --- teams and their capacity ------------------------------------------------------

    async def teams(self, *, fresh: bool = False) -> list[Team]:
        """Every team, by ``team_id``: as read within the last few seconds, or ``fresh``."""
        ...

    async def upsert_teams(self, teams: Sequence[Team]) -> int:
        """Add or replace these teams whole; how many."""
        ...

    async def team_loads(self, day: str, team_ids: Sequence[str]) -> dict[str, list[str]]:
        """The application numbers each team took on Baku ``day`` (teams with none left out)."""
        ...

    async def claim(self, team: Team, day: str, number: str) -> bool:
        """Count ``number`` against ``team``'s capacity on ``day``; False when it is full."""
        ...

    async def unclaim(self, team_id: str, day: str, number: str) -> bool:
        """Give back ``number``'s slot; False when it held none."""
        ...

    async def forget_team_days(self, before: str) -> int:
        """Drop the counts of Baku days before ``before`` (``YYYY-MM-DD``); how many."""
        ...

    # --- meter stock per district ------------------------------------------------------

    async def reserve(self, district: str, number: str) -> bool:
        """Hold a free meter for ``number`` (idempotent); False when none is free."""
        ...

    async def release(self, district: str, number: str) -> bool: ...
    async def consume(self, district: str, number: str) -> bool: ...

    async def receive(self, district: str, quantity: int, receipt: str, at: datetime) -> Receipt:
        """Add ``quantity`` meters once per ``receipt`` (remembered for 8 days from ``at``);
        the free meters now, and whether this receipt counted."""
        ...

    async def stock_levels(self) -> list[StockLevel]:
        """Every district's stock, by district code."""
        ...

    # --- work orders -------------------------------------------------------------------

    async def work_order(self, number: str) -> WorkOrder | None: ...
    async def work_order_by_id(self, work_order_id: str) -> WorkOrder | None: ...

    async def work_order_by_message(self, message_id: str) -> WorkOrder | None:
        """The work order a report with this ``message_id`` closed, if any."""
        ...

    async def work_orders(
        self, *, status: str | None = None, stock_pending: bool = False, limit: int = 200
    ) -> list[WorkOrder]:
        """Work orders oldest first: all, or those in ``status``, or with a pending stock change."""
        ...

    async def count_work_orders(self, status: str) -> int:
        """How many work orders are in ``status``, counted where they are stored (the
        gauge of those waiting: a backlog of any size, none of it read)."""
        ...

    async def past_due(
        self, day: str, *, unannounced: bool = False, limit: int = 1000
    ) -> list[WorkOrder]:
        """Open work orders (waiting or assigned) due before ``day`` (``YYYY-MM-DD``), the
        earliest due first, then by number; only those without ``overdue_at`` when
        ``unannounced``. Work orders with no ``due_by`` are never past due."""
        ...

    async def save_and_publish(
        self,
        work_order: WorkOrder,
        messages: Sequence[Message],
        *,
        replacing: WorkOrder | None = None,
    ) -> bool:
        """Store ``work_order`` and its ``messages`` in one write, then publish them.

        A new work order is inserted (``replacing`` None); a changed one replaces
        ``replacing``, the version it was changed from. False, with nothing stored, when
        another write got there first: the application has a work order already, or the
        stored one is no longer ``replacing``.
        """
        ...

    async def stock_settled(self, number: str) -> None:
        """The closed work order's stock change is done: forget ``stock_pending``.

        The mark may be taken off a moment later, with others in one write; meanwhile
        ``work_orders(stock_pending=True)`` leaves the work order out. Should the write
        never happen (a crash), housekeeping settles it again: every change is idempotent.
        """
        ...

    async def flush_settled(self) -> None:
        """Take off now the marks ``stock_settled`` left waiting (the service stops)."""
        ...

    # --- work orders no queue of their team took -----------------------------------------

    async def mark_unrouted(self, number: str, work_order_id: str, at: str, offer_at: str) -> bool:
        """The assigned work order's message came back: no queue of its team was bound.
        Remember when (``unrouted_at``) and when to offer it again (``offer_at``, both
        ``stamp``s); False when ``number`` has no assigned work order ``work_order_id``
        (closed or assigned anew meanwhile)."""
        ...

    async def unrouted(self, now: str, limit: int = 100) -> list[WorkOrder]:
        """Assigned work orders marked unrouted whose offer is due at ``now``, the earliest
        due first."""
        ...

    async def count_unrouted(self) -> int:
        """How many assigned work orders no queue of their team has taken yet (the gauge)."""
        ...

    async def move_unrouted(self, work_order: WorkOrder, offer_at: str | None) -> bool:
        """Move the next offer of ``work_order`` (as read) to ``offer_at``, or take the mark
        off (None); False when the stored ``offer_at`` is no longer the one read (another
        dispatcher took it)."""
        ...

    async def send_to_field(self, message: WorkOrderAssigned) -> bool:
        """Publish ``message`` to its team now, not through the outbox: whether a queue of
        the team took it."""
        ...

    # --- refused reports ---------------------------------------------------------------

    async def refusal_for(self, message_id: str) -> Refused | None:
        """The refusal a report with this ``message_id`` got the first time, if any."""
        ...

    async def remember_refusal(
        self, message_id: str, reply: Refused, listed: WorkOrder | None = None
    ) -> None:
        """Keep the refusal for redeliveries; a copy stored first by a concurrent one wins.

        ``listed``: the work order the report was refused against, whose
        ``refused_reports`` gets ``message_id`` first (``reports.may_have_refused``), as a
        change of the work order (its ``version`` too). A crash between the two leaves the
        message listed without a refusal: its redelivery is decided afresh, as nothing was
        answered yet.
        """
        ...
