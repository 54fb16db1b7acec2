"""Whether a citizen may withdraw an application, and what a withdrawal changes (pure).

docs/integration.md: allowed while the application is ``registered`` or ``forwarded``,
which in the dispatcher is a work order waiting for a team. Only its applicant may
withdraw it; to anyone else it does not exist (``not_found``, as the status service
answers). A withdrawal gives back what the work order holds — its meter, and a team-day
slot a crash may have left claimed — marked ``stock_pending: release`` in the same write,
so housekeeping finishes it if the dispatcher stops half way (as for reports).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from services.dispatcher.domain.workorders import (
    WAITING,
    WITHDRAWN,
    Transition,
    WorkOrder,
    closing,
)
from shared.clock import iso, stamp
from shared.contracts.commands import is_application_number
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.events import ApplicationWithdrawn
from shared.contracts.fields import normalize_fin


class Verdict(StrEnum):
    """What a withdrawal request meets."""

    WITHDRAW = "withdraw"  # waiting for a team: withdraw it now
    ALREADY = "already"  # withdrawn before: answered ``withdrawn`` again, nothing changes
    NOT_FOUND = "not_found"  # unknown, someone else's, or not known to the dispatcher yet
    CANNOT = "cannot_withdraw"  # a team is assigned already, or it is closed


def verdict(number: str, work_order: WorkOrder | None, applicant_fin: str) -> Verdict:
    """What withdrawing ``work_order`` (stored under ``number``) for ``applicant_fin`` meets.

    A work order stored before FINs were kept has none, so no one can withdraw it: it is
    ``not_found`` rather than anyone's.
    """
    if not is_application_number(number) or work_order is None:
        return Verdict.NOT_FOUND
    owner = work_order.get("applicant_fin") or ""
    if not owner or normalize_fin(owner) != normalize_fin(applicant_fin):
        return Verdict.NOT_FOUND
    status = work_order.get("status")
    if status == WITHDRAWN:
        return Verdict.ALREADY
    if status == WAITING and not work_order.get("team_id"):
        return Verdict.WITHDRAW
    return Verdict.CANNOT  # assigned, closed (completed or rejected), or unknown here


def refusal(found: Verdict, language: str) -> FieldError:
    """The refusal of ``not_found`` or ``cannot_withdraw``, in the request's language."""
    code = ErrorCode.NOT_FOUND if found is Verdict.NOT_FOUND else ErrorCode.CANNOT_WITHDRAW
    return field_error("application_number", code, language)


def withdrawn(work_order: WorkOrder, now: datetime) -> Transition:
    """The waiting work order withdrawn, and ``application.withdrawn`` (next sequence)."""
    sequence = work_order["sequence"] + 1
    event = ApplicationWithdrawn(
        application_number=work_order["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        work_order_id=work_order["work_order_id"],
    )
    changed = closing(work_order, now, WITHDRAWN, sequence, stock_pending="release")
    changed["withdrawn_at"] = stamp(now)
    return changed, [event]
