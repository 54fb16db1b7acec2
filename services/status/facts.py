"""Events read into facts: what the projection keeps of each event, checked and normalized.

Pure (no broker, no database). Times become ISO 8601 in Asia/Baku time, the FIN is
normalized as intake normalizes it, the act keeps the contract's fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.status.views import Act, is_application_number
from shared.clock import iso
from shared.contracts import routing
from shared.contracts.catalogue import Status
from shared.contracts.messages import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationEvent,
    ApplicationForwarded,
    ApplicationRegistered,
    ApplicationRejected,
    NotificationEvent,
)

Fact = dict[str, Any]
STEP_EVENTS: dict[str, tuple[Status, type[ApplicationEvent]]] = {
    routing.APPLICATION_REGISTERED: (Status.REGISTERED, ApplicationRegistered),
    routing.APPLICATION_FORWARDED: (Status.FORWARDED, ApplicationForwarded),
    routing.APPLICATION_ASSIGNED: (Status.ASSIGNED, ApplicationAssigned),
    routing.APPLICATION_COMPLETED: (Status.COMPLETED, ApplicationCompleted),
    routing.APPLICATION_REJECTED: (Status.REJECTED, ApplicationRejected),
}
NOTIFICATION_STATES = {
    routing.NOTIFICATION_DELIVERED: "delivered",
    routing.NOTIFICATION_FAILED: "failed",
}
M = TypeVar("M", bound=BaseModel)


class UnreadableEvent(ValueError):
    """The body cannot be read as the event its routing key names."""


def normalize_fin(value: str) -> str:
    return value.strip().upper()


def fact_from(routing_key: str, body: dict[str, Any]) -> Fact | None:
    """What this projection keeps of one event; None for an event it does not use."""
    if routing_key in STEP_EVENTS:
        return _step(routing_key, body)
    if routing_key in NOTIFICATION_STATES:
        event = _read(NotificationEvent, body)
        return {
            "kind": "notification",
            "application_number": _number(event.application_number),
            "event": event.event,
            "channel": event.channel,
            "state": NOTIFICATION_STATES[routing_key],
            "at": _baku_time(event.occurred_at),
        }
    return None


def _step(routing_key: str, body: dict[str, Any]) -> Fact:
    status, model = STEP_EVENTS[routing_key]
    event = _read(model, body)
    fact: Fact = {
        "kind": "step",
        "application_number": _number(event.application_number),
        "sequence": event.sequence,
        "status": status.value,
        "at": _baku_time(event.occurred_at),
    }
    if isinstance(event, ApplicationRegistered):
        fact.update(
            applicant_fin=normalize_fin(event.applicant_fin),
            subscriber_code=event.subscriber_code,
            reason_code=event.reason_code,
            channel=event.channel,
            language=event.language,
        )
    elif isinstance(event, ApplicationCompleted):
        fact.update(outcome=event.outcome, act=_read(Act, event.act).model_dump(mode="json"))
    elif isinstance(event, ApplicationRejected):
        fact.update(reason_code=event.reason_code, comment=event.comment)
    return fact


def _read(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise UnreadableEvent(f"not a valid {model.__name__}: {problems}") from None


def _number(value: str) -> str:
    if not is_application_number(value):
        raise UnreadableEvent(f"application_number {value!r} is not SQ-<year>-<6 digits>")
    return value


def _baku_time(value: str) -> str:
    try:
        return iso(datetime.fromisoformat(value))
    except ValueError:
        raise UnreadableEvent(f"occurred_at {value!r} is not an ISO 8601 time") from None
