"""Work orders: one per application, and the messages each change of one causes (pure).

A work order is the stored document of its application (``_id`` is the application
number) under a random ``work_order_id`` that cannot be derived from the number (a field
app may report only on work orders it was given). It holds the work order's state, the
application's event ``sequence`` and what the field team needs on site; each change
returns the new document and the messages it causes (events, and the team's
``work_order.assigned``), which the store saves with it in one write
(``store.DispatcherStore.save_and_publish``).

    waiting ──assigned──▶ assigned ──reported──▶ completed | rejected
       ├──── no meter in stock ──▶ rejected
       └──── withdrawn by the citizen ──▶ withdrawn   (``withdrawals``)

An open work order (waiting or assigned) past its due date is announced overdue once
(``deadlines``); that changes no status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from services.dispatcher.domain.comments import rejection_comment
from services.dispatcher.domain.teams import Team
from shared.clock import iso, stamp
from shared.contracts.catalogue import Reason, RejectionReason
from shared.contracts.commands import Outcome, ReportOutcome
from shared.contracts.events import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationEvent,
    ApplicationForwarded,
    ApplicationRegistered,
    ApplicationRejected,
)
from shared.contracts.field import WorkOrderAssigned
from shared.contracts.fields import normalize_fin
from shared.contracts.reading import MalformedMessage
from shared.contracts.replies import Accepted

WorkOrder = dict[str, Any]
"""A work order as stored: ``_id`` (the application number), ``work_order_id``,
``district_code``, ``reason_code``, ``language``, ``subscriber_code``, ``address``,
``phone``, ``notes``, ``additional_meter``, ``status``, ``meter_reserved``, ``sequence``,
``created_at``, ``updated_at``, ``correlation_id``, ``applicant_fin`` (normalized: who may
withdraw it) and ``due_by`` (``YYYY-MM-DD`` or None);
``team_id``, ``assigned_day``, ``assigned_at`` once assigned; ``closed_at`` and
``rejection`` or ``outcome``/``act``/``comment`` once closed; ``stock_pending`` while a
closing's stock change is unfinished; ``report_message_id`` and ``report_reply`` of the
report that closed it (every copy of that message is answered with that reply);
``withdrawn_at`` once withdrawn; ``overdue_at`` once announced overdue. The store adds
``version`` (and the outbox)."""

Message = ApplicationEvent | WorkOrderAssigned
"""What a change of a work order publishes: events on ``meter.events``, work orders on
``meter.field``."""
Transition = tuple[WorkOrder, list[Message]]

WAITING = "waiting"
ASSIGNED = "assigned"
COMPLETED = "completed"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
OPEN = frozenset({WAITING, ASSIGNED})
# A work order no queue of its team took is offered to the team again RESEND_AFTER after
# it came back, then each time after as long again as it has waited so far, at most
# RESEND_MAX (``next_offer``): 15 s, 30 s, 1, 2, 4 and 8 min after it came back, then
# every 5 min.
RESEND_AFTER = timedelta(seconds=15)
RESEND_MAX = timedelta(minutes=5)
CLOSED = frozenset({COMPLETED, REJECTED, WITHDRAWN})

# Reasons whose work needs a meter from the district's stock (docs/integration.md).
REASONS_NEEDING_A_METER = frozenset(
    {
        Reason.NEW_INSTALLATION,
        Reason.ADDITIONAL_METER,
        Reason.REPLACE_FAULTY,
        Reason.REPLACE_VERIFICATION_EXPIRED,
    }
)


def needs_meter(reason_code: str) -> bool:
    return reason_code in REASONS_NEEDING_A_METER


def holds_meter(work_order: WorkOrder) -> bool:
    """Whether the district's reservation under this number is the work order's: while it
    is open, or closed with its stock change still to make (``stock_pending``)."""
    return work_order.get("meter_reserved") is True and (
        work_order.get("status") in OPEN or "stock_pending" in work_order
    )


def new_work_order_id() -> str:
    """A work order's id: ``WO-`` and 16 random hex digits, nothing of the application's."""
    return "WO-" + secrets.token_hex(8).upper()


@dataclass(frozen=True)
class Application:
    """What the dispatcher keeps of ``application.registered``."""

    number: str
    district_code: str
    reason_code: str
    language: str
    subscriber_code: str
    sequence: int
    # For the field team's work order (meter.field): where, whom to call, what was asked.
    address: str = ""
    phone: str = ""
    notes: str = ""
    additional_meter: bool = False
    # Who may withdraw it (normalized FIN) and when it is due (YYYY-MM-DD, Asia/Baku).
    applicant_fin: str = ""
    due_by: str | None = None

    @classmethod
    def from_event(cls, event: ApplicationRegistered) -> Application:
        """The application to dispatch; ``MalformedMessage`` when it names no place to go."""
        for name in ("application_number", "district_code", "reason_code"):
            if not str(getattr(event, name)).strip():
                raise MalformedMessage(f"{name} is missing or not a string")
        return cls(
            number=event.application_number,
            district_code=event.district_code,
            reason_code=event.reason_code,
            language=event.language or "az",
            subscriber_code=event.subscriber_code or "",
            sequence=event.sequence,
            address=event.address or "",
            phone=event.contact.phone,
            notes=event.notes or "",
            additional_meter=event.additional_meter is True,
            applicant_fin=normalize_fin(event.applicant_fin or ""),
            due_by=_date_or_none(event.due_by),
        )


def _date_or_none(value: str | None) -> str | None:
    """A ``YYYY-MM-DD`` date as given; None for none or anything else (an application with
    an unreadable due date is still dispatched, it is just never announced overdue)."""
    try:
        return date.fromisoformat(value).isoformat() if value else None
    except ValueError:
        return None


def opened(
    app: Application,
    now: datetime,
    reserved: bool | None,
    correlation_id: str | None,
    work_order_id: str | None = None,
) -> Transition:
    """The new work order, forwarded; rejected at once when a needed meter is missing.

    ``reserved`` is None when the reason needs no meter, else whether one is held;
    ``work_order_id`` defaults to a new random one.
    """
    work_order: WorkOrder = {
        "_id": app.number,
        "work_order_id": work_order_id or new_work_order_id(),
        "district_code": app.district_code,
        "reason_code": app.reason_code,
        "language": app.language,
        "subscriber_code": app.subscriber_code,
        "address": app.address,
        "phone": app.phone,
        "notes": app.notes,
        "additional_meter": app.additional_meter,
        "applicant_fin": app.applicant_fin,
        "due_by": app.due_by,
        "status": WAITING,
        "meter_reserved": bool(reserved),
        "sequence": app.sequence + 1,
        "created_at": stamp(now),
        "updated_at": stamp(now),
        "correlation_id": correlation_id,
        "refused_reports": [],  # reports.may_have_refused
    }
    forwarded = ApplicationForwarded(
        application_number=app.number,
        occurred_at=iso(now),
        sequence=app.sequence + 1,
        district_code=app.district_code,
    )
    if reserved is False:
        reason = RejectionReason.NO_METER_STOCK.value
        comment = rejection_comment(reason, app.language)
        work_order, events = rejected(work_order, now, reason, comment, stock_pending=None)
        return work_order, [forwarded, *events]
    return work_order, [forwarded]


def assigned(work_order: WorkOrder, team: Team, day: str, now: datetime) -> Transition:
    """The waiting work order given to ``team``, counted on Baku ``day``: the event, and
    the work order for the team's field apps."""
    sequence = work_order["sequence"] + 1
    event = ApplicationAssigned(
        application_number=work_order["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        work_order_id=work_order["work_order_id"],
        team_id=team.team_id,
        district_code=work_order.get("district_code"),
        subscriber_code=work_order.get("subscriber_code"),
        reason_code=work_order.get("reason_code"),
    )
    changed = {
        **work_order,
        "status": ASSIGNED,
        "team_id": team.team_id,
        "assigned_day": day,
        "assigned_at": stamp(now),
        "updated_at": stamp(now),
        "sequence": sequence,
    }
    return changed, [event, field_work_order(changed)]


def next_offer(came_back: datetime, now: datetime) -> datetime:
    """When a work order that came back at ``came_back`` is offered to its team after an
    offer ``now``: a field app that binds soon gets it soon, one that never binds costs an
    offer every ``RESEND_MAX``."""
    waited = max(now - came_back, RESEND_AFTER)
    return now + min(waited, RESEND_MAX)


def field_work_order(work_order: WorkOrder) -> WorkOrderAssigned:
    """What the assigned team's field apps get: no FIN, no e-mail (docs/security.md).

    Work orders stored before these fields were kept get them empty.
    """
    return WorkOrderAssigned(
        work_order_id=work_order["work_order_id"],
        application_number=work_order["_id"],
        team_id=work_order["team_id"],
        subscriber_code=work_order.get("subscriber_code") or "",
        address=work_order.get("address") or "",
        district_code=work_order.get("district_code") or "",
        reason_code=work_order.get("reason_code") or "",
        additional_meter=work_order.get("additional_meter") is True,
        phone=work_order.get("phone") or "",
        notes=work_order.get("notes") or "",
    )


def rejected(
    work_order: WorkOrder, now: datetime, reason: str, comment: str, stock_pending: str | None
) -> Transition:
    sequence = work_order["sequence"] + 1
    event = ApplicationRejected(
        application_number=work_order["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        reason_code=reason,
        comment=comment,
        work_order_id=work_order["work_order_id"],
    )
    changed = closing(work_order, now, REJECTED, sequence, stock_pending)
    changed["rejection"] = {"reason_code": reason, "comment": comment}
    return changed, [event]


def reported(
    work_order: WorkOrder,
    report: ReportOutcome,
    now: datetime,
    message_id: str | None,
    reply: Accepted,
) -> Transition:
    """The work order closed by a field team's report, with the reply the report got.

    A held meter is consumed by ``installed`` and released otherwise; the change is
    marked ``stock_pending`` until the stock document has it.
    """
    held = work_order.get("meter_reserved") is True
    if report.outcome == Outcome.NOT_EXECUTED:
        reason = report.reason_code or RejectionReason.UNSUITABLE_WATER_LINE.value
        language = work_order.get("language") or "az"
        comment = report.comment or rejection_comment(reason, language)
        changed, events = rejected(work_order, now, reason, comment, "release" if held else None)
    else:
        outcome: Literal["installed", "existing_meter_registered"] = (
            "installed" if report.outcome == Outcome.INSTALLED else "existing_meter_registered"
        )
        assert report.act is not None  # the contract requires it unless not_executed
        sequence = work_order["sequence"] + 1
        event = ApplicationCompleted(
            application_number=work_order["_id"],
            occurred_at=iso(now),
            sequence=sequence,
            outcome=outcome,
            act=report.act,
            work_order_id=work_order["work_order_id"],
            team_id=report.team_id,
        )
        pending = ("consume" if outcome == "installed" else "release") if held else None
        changed = closing(work_order, now, COMPLETED, sequence, pending)
        changed.update(
            outcome=outcome, act=report.act.model_dump(mode="json"), comment=report.comment
        )
        events = [event]
    if message_id:
        changed.update(report_message_id=message_id, report_reply=reply.model_dump(mode="json"))
    return changed, events


def closing(
    work_order: WorkOrder, now: datetime, status: str, sequence: int, stock_pending: str | None
) -> WorkOrder:
    """The work order closed as ``status``; ``stock_pending`` marks the stock change still
    to make (``consume`` or ``release``), which housekeeping finishes after a crash."""
    changed = {
        **work_order,
        "status": status,
        "closed_at": stamp(now),
        "updated_at": stamp(now),
        "sequence": sequence,
    }
    if stock_pending:
        changed["stock_pending"] = stock_pending
    return changed
