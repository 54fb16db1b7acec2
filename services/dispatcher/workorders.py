"""Work-order documents and the events each change puts in their outbox.

One document per application holds its work order's state, the application's event
``sequence`` and the outbox, so a change and its events are one write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.dispatcher import domain
from services.dispatcher.domain.reports import Report
from shared.clock import iso, stamp
from shared.contracts import routing
from shared.contracts.messages import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationRejected,
)
from shared.messaging import MalformedMessage
from shared.outbox import event_entry, with_outbox

Document = dict[str, Any]


@dataclass(frozen=True)
class Application:
    """What the dispatcher keeps of ``application.registered``."""

    number: str
    district_code: str
    reason_code: str
    language: str
    subscriber_code: str
    sequence: int

    @classmethod
    def from_event(cls, body: dict[str, Any]) -> Application:
        values = {name: body.get(name) for name in ("application_number", "district_code")}
        values["reason_code"] = body.get("reason_code")
        for name, value in values.items():
            if not isinstance(value, str) or not value.strip():
                raise MalformedMessage(f"{name} is missing or not a string")
        sequence = body.get("sequence", 1)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise MalformedMessage("sequence must be a positive integer")
        return cls(
            number=str(values["application_number"]),
            district_code=str(values["district_code"]),
            reason_code=str(values["reason_code"]),
            language=str(body.get("language") or "az"),
            subscriber_code=str(body.get("subscriber_code") or ""),
            sequence=sequence,
        )


def opened(
    app: Application, now: datetime, reserved: bool | None, correlation_id: str | None
) -> Document:
    """The new work order, forwarded; rejected at once when a needed meter is missing.

    ``reserved`` is None when the reason needs no meter, else whether one is held.
    """
    document: Document = {
        "_id": app.number,
        "work_order_id": domain.work_order_id(app.number),
        "district_code": app.district_code,
        "reason_code": app.reason_code,
        "language": app.language,
        "subscriber_code": app.subscriber_code,
        "status": "waiting",
        "meter_reserved": bool(reserved),
        "sequence": app.sequence + 1,
        "created_at": stamp(now),
        "updated_at": stamp(now),
        "correlation_id": correlation_id,
        "version": 1,
    }
    forwarded = ApplicationForwarded(
        application_number=app.number,
        occurred_at=iso(now),
        sequence=app.sequence + 1,
        district_code=app.district_code,
    )
    document = with_outbox(document, [_entry(routing.APPLICATION_FORWARDED, forwarded, document)])
    if reserved is False:
        comment = domain.rejection_comment("no_meter_stock", app.language)
        return rejected(document, now, "no_meter_stock", comment, stock_pending=None)
    return document


def assigned(document: Document, team: domain.Team, day: str, now: datetime) -> Document:
    sequence = document["sequence"] + 1
    event = ApplicationAssigned(
        application_number=document["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        work_order_id=document["work_order_id"],
        team_id=team.team_id,
        district_code=document["district_code"],
        subscriber_code=document["subscriber_code"],
        reason_code=document["reason_code"],
    )
    changed = {
        **document,
        "status": "assigned",
        "team_id": team.team_id,
        "assigned_day": day,
        "assigned_at": stamp(now),
        "updated_at": stamp(now),
        "sequence": sequence,
    }
    return with_outbox(changed, [_entry(routing.APPLICATION_ASSIGNED, event, document)])


def rejected(
    document: Document, now: datetime, reason: str, comment: str, stock_pending: str | None
) -> Document:
    sequence = document["sequence"] + 1
    event = ApplicationRejected(
        application_number=document["_id"],
        occurred_at=iso(now),
        sequence=sequence,
        reason_code=reason,
        comment=comment,
        work_order_id=document["work_order_id"],
    )
    changed = _closed(document, now, "rejected", sequence, stock_pending)
    changed["rejection"] = {"reason_code": reason, "comment": comment}
    return with_outbox(changed, [_entry(routing.APPLICATION_REJECTED, event, document)])


def reported(
    document: Document, report: Report, now: datetime, message_id: str | None, reply: Document
) -> Document:
    """The work order closed by a field team's report, with the reply the report got."""
    held = document.get("meter_reserved") is True
    if report.outcome == "not_executed":
        reason = report.reason_code or "unsuitable_water_line"
        comment = report.comment or domain.rejection_comment(reason, document["language"])
        changed = rejected(document, now, reason, comment, "release" if held else None)
    else:
        sequence = document["sequence"] + 1
        event = ApplicationCompleted(
            application_number=document["_id"],
            occurred_at=iso(now),
            sequence=sequence,
            outcome=report.outcome,  # checked by read_report
            act=report.act or {},
            work_order_id=document["work_order_id"],
            team_id=report.team_id,
        )
        consumes = report.outcome == "installed"
        pending = ("consume" if consumes else "release") if held else None
        changed = _closed(document, now, "completed", sequence, pending)
        changed.update(outcome=report.outcome, act=report.act, comment=report.comment)
        changed = with_outbox(changed, [_entry(routing.APPLICATION_COMPLETED, event, document)])
    if message_id:
        changed.update(report_message_id=message_id, report_reply=reply)
    return changed


def _closed(
    document: Document, now: datetime, status: str, sequence: int, stock_pending: str | None
) -> Document:
    changed = {
        **document,
        "status": status,
        "closed_at": stamp(now),
        "updated_at": stamp(now),
        "sequence": sequence,
    }
    if stock_pending:
        changed["stock_pending"] = stock_pending
    return changed


def _entry(key: str, event: Any, document: Document) -> Document:
    return event_entry(key, event, document.get("correlation_id"))
