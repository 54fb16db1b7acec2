"""Due dates: when an open work order is overdue, and its announcement (pure).

Each application is due by ``due_by`` (``YYYY-MM-DD``, Asia/Baku working days, computed by
intake and carried by ``application.registered``). An open work order — waiting or
assigned — is overdue once the Asia/Baku date is after ``due_by``; it is announced
(``application.overdue``, next sequence) once, marked ``overdue_at`` in the same write.
Overdue changes no status: the work order goes on as before.
"""

from __future__ import annotations

from datetime import date, datetime

from services.dispatcher.domain.workorders import OPEN, Transition, WorkOrder
from shared.clock import baku, iso, stamp
from shared.contracts.events import ApplicationOverdue


def baku_date(now: datetime) -> date:
    return baku(now).date()


def is_overdue(work_order: WorkOrder, today: date) -> bool:
    """Open and past its due date (a work order with no due date never is)."""
    due_by = work_order.get("due_by")
    return (
        work_order.get("status") in OPEN and isinstance(due_by, str) and due_by < today.isoformat()
    )


def to_announce(work_order: WorkOrder, today: date) -> bool:
    """Overdue and not announced yet."""
    return is_overdue(work_order, today) and not work_order.get("overdue_at")


def days_late(due_by: str, today: date) -> int:
    """Calendar days from the due date to ``today`` (1 the day after it was due)."""
    return (today - date.fromisoformat(due_by)).days


def announced(work_order: WorkOrder, now: datetime) -> Transition:
    """The overdue work order marked announced, and ``application.overdue``."""
    sequence = work_order["sequence"] + 1
    event = ApplicationOverdue(
        application_number=work_order["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        due_by=work_order["due_by"],
        district_code=work_order["district_code"],
        team_id=work_order.get("team_id"),
        work_order_id=work_order["work_order_id"],
    )
    changed = {**work_order, "sequence": sequence, "overdue_at": stamp(now)}
    return changed, [event]
