"""Which steps the citizen is told about, and what each step needs to be told (pure).

The registry decides: an event tells the citizen iff its model has ``notifies_citizen``
(``shared.contracts.events``); ``step_of`` reads the step out of the typed event by an
exhaustive ``match``, so a new event in ``Event`` is named by the type check here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

from shared.contracts.catalogue import REJECTION_LABELS, RejectionReason, Status
from shared.contracts.errors import DEFAULT_LANGUAGE, LANGUAGES
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
from shared.contracts.registry import events_where

Channel = Literal["email", "sms"]
CHANNELS: tuple[Channel, ...] = ("email", "sms")


def _steps() -> dict[str, Status]:
    steps: dict[str, Status] = {}
    for model in events_where(notifies_citizen=True):
        if model.status is None:  # the subject names the status the step gives
            raise TypeError(f"{model.__name__} notifies the citizen but gives no status")
        steps[model.routing_key] = model.status
    return steps


# routing key -> the status it gives, for every event the citizen is told about.
STEPS: dict[str, Status] = _steps()

# The detail holding an installed completion's act (JSON): the e-mail attaches its copy.
ACT = "act"
# Details only the e-mail needs: the SMS job does not carry them.
EMAIL_ONLY = frozenset({ACT})


@dataclass(frozen=True)
class Contact:
    """Where and in which language the applicant hears from us, and what the act's copy
    names besides the act (all from the registration)."""

    phone: str
    email: str
    language: str = DEFAULT_LANGUAGE
    subscriber_code: str = ""
    address: str = ""  # empty: unknown (the copy shows "—")


@dataclass(frozen=True)
class StepEvent:
    """One step of an application the citizen is told about."""

    key: str
    number: str
    sequence: int = 1  # the step's place among its application's events
    details: dict[str, str] = field(default_factory=dict)
    contact: Contact | None = None  # only the registration carries it

    def details_for(self, channel: Channel) -> dict[str, str]:
        """The details a job on ``channel`` keeps (the act only for the e-mail)."""
        if channel == "email":
            return dict(self.details)
        return {key: value for key, value in self.details.items() if key not in EMAIL_ONLY}


def language_of(value: Any) -> str:
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE


def step_of(event: Event) -> StepEvent | None:
    """The step ``event`` tells the citizen of; None when its model does not notify."""
    if not event.notifies_citizen:
        return None
    match event:
        case ApplicationRegistered():
            contact = Contact(
                event.contact.phone,
                event.contact.email,
                language_of(event.language),
                event.subscriber_code,
                event.address or "",
            )
            return StepEvent(
                event.routing_key, event.application_number, event.sequence, contact=contact
            )
        case ApplicationCompleted():
            details = {
                "outcome": event.outcome,
                "meter_serial": event.act.meter_serial,
                "act_number": event.act.act_number,
            }
            if (
                event.outcome == "installed"
            ):  # the citizen gets a copy of the act (docs/integration.md)
                details[ACT] = event.act.model_dump_json()
            return StepEvent(event.routing_key, event.application_number, event.sequence, details)
        case ApplicationRejected():
            details = {"reason_code": event.reason_code, "comment": event.comment}
            return StepEvent(event.routing_key, event.application_number, event.sequence, details)
        case ApplicationForwarded() | ApplicationAssigned() | ApplicationWithdrawn():
            return StepEvent(event.routing_key, event.application_number, event.sequence)
        case ApplicationOverdue():
            return None  # for operations; the citizen is not told (docs/integration.md)
        case NotificationDelivered() | NotificationFailed():
            return None  # what became of a notification is not itself a step
        case _:
            assert_never(event)


def reason_in_words(reason_code: str, comment: str, language: str) -> str:
    """The rejection reason as the citizen reads it; never the bare code if avoidable."""
    if reason_code in RejectionReason.__members__.values():
        return REJECTION_LABELS[RejectionReason(reason_code)][language]
    return comment.strip().rstrip(".") or reason_code
