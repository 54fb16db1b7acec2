"""Events read into facts: what the projection keeps of each event, checked and normalized.

Every event of the registry is a fact here: an application event is a step with the
status its model names (``status``), ``application.overdue`` (which names no status) a
mark that the application passed its due date, a notification event an outcome of one
e-mail or SMS. Times become ISO 8601 in Asia/Baku time, the FIN is normalized as intake normalizes
it, the act keeps the contract's fields. Facts are plain dicts: they are what the read
model stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, assert_never

from shared.clock import iso
from shared.contracts.catalogue import Status
from shared.contracts.commands import is_application_number
from shared.contracts.events import (
    EVENT_MODELS,
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationEvent,
    ApplicationForwarded,
    ApplicationOverdue,
    ApplicationRegistered,
    ApplicationRejected,
    ApplicationWithdrawn,
    DomainEvent,
    Event,
    NotificationDelivered,
    NotificationFailed,
    NotificationOutcomeEvent,
)
from shared.contracts.fields import normalize_fin
from shared.contracts.reading import MalformedMessage

Fact = dict[str, Any]

# The events that move an application, in the registry's order: that of the steps.
STEP_EVENTS: tuple[type[DomainEvent], ...] = tuple(
    model for model in EVENT_MODELS if model.status is not None
)


class UnreadableEvent(MalformedMessage):
    """An event its model accepts but the projection cannot use (its number or its time)."""


def fact_of(event: Event) -> Fact:
    """What this projection keeps of one event (``UnreadableEvent`` when it cannot)."""
    match event:
        case ApplicationRegistered():
            return _step(
                event,
                applicant_fin=normalize_fin(event.applicant_fin),
                subscriber_code=event.subscriber_code,
                reason_code=event.reason_code,
                channel=event.channel,
                language=event.language,
                # Not shown in the view: the act's copy names it (GET .../act).
                address=event.address,
                due_by=event.due_by,
            )
        case ApplicationForwarded() | ApplicationAssigned() | ApplicationWithdrawn():
            return _step(event)
        case ApplicationCompleted():
            return _step(event, outcome=event.outcome, act=event.act.model_dump(mode="json"))
        case ApplicationRejected():
            return _step(event, reason_code=event.reason_code, comment=event.comment)
        case ApplicationOverdue():
            return _overdue(event)
        case NotificationDelivered():
            return _notification(event, "delivered")
        case NotificationFailed():
            return _notification(event, "failed")
        case _:
            assert_never(event)


def step_status(model: type[DomainEvent]) -> Status:
    """The status an application event gives, as the registry names it."""
    if model.status is None:
        raise TypeError(f"{model.__name__} names no status: it is not a step")
    return model.status


def _step(event: ApplicationEvent, **details: Any) -> Fact:
    fact: Fact = {
        "kind": "step",
        "application_number": _number(event.application_number),
        "sequence": event.sequence,
        "status": step_status(type(event)).value,
        "at": _baku_time(event.occurred_at),
    }
    fact.update(details)
    return fact


def _overdue(event: ApplicationOverdue) -> Fact:
    """Not a step: whatever its sequence, it never becomes the current status."""
    return {
        "kind": "overdue",
        "application_number": _number(event.application_number),
        "sequence": event.sequence,
        "due_by": event.due_by,
        "at": _baku_time(event.occurred_at),
    }


def _notification(event: NotificationOutcomeEvent, state: Literal["delivered", "failed"]) -> Fact:
    return {
        "kind": "notification",
        "application_number": _number(event.application_number),
        "event": event.event,
        "channel": event.channel,
        "state": state,
        "at": _baku_time(event.occurred_at),
    }


def _number(value: str) -> str:
    if not is_application_number(value):
        raise UnreadableEvent(f"application_number {value!r} is not SQ-<year>-<6 digits>")
    return value


def _baku_time(value: str) -> str:
    try:
        return iso(datetime.fromisoformat(value))
    except ValueError:
        raise UnreadableEvent(f"occurred_at {value!r} is not an ISO 8601 time") from None
