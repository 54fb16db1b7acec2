"""The notifier's pure rules: what each step tells the citizen, and when to try again.

No I/O here: handlers and the sender read events and jobs, then ask these functions what
to say and what to do next.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.notifier.texts import TEMPLATES
from shared.contracts import routing
from shared.contracts.catalogue import (
    REJECTION_LABELS,
    STATUS_LABELS,
    RejectionReason,
    Status,
    registration_text,
)
from shared.contracts.errors import DEFAULT_LANGUAGE, LANGUAGES
from shared.contracts.messages import (
    ApplicationCompleted,
    ApplicationEvent,
    ApplicationRegistered,
    ApplicationRejected,
)

CHANNELS = ("email", "sms")
STEPS: dict[str, Status] = {
    routing.APPLICATION_REGISTERED: Status.REGISTERED,
    routing.APPLICATION_FORWARDED: Status.FORWARDED,
    routing.APPLICATION_COMPLETED: Status.COMPLETED,
    routing.APPLICATION_REJECTED: Status.REJECTED,
}


class UnreadableEvent(ValueError):
    """The event body is not the ``application.*`` event its routing key names."""


@dataclass(frozen=True)
class Contact:
    """Where and in which language the applicant hears from us (from the registration)."""

    phone: str
    email: str
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True)
class StepEvent:
    """One step of an application the citizen is told about."""

    key: str
    number: str
    sequence: int = 1  # the step's place among its application's events
    details: dict[str, str] = field(default_factory=dict)
    contact: Contact | None = None  # only the registration carries it


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    html: str


def language_of(value: Any) -> str:
    return value if isinstance(value, str) and value in LANGUAGES else DEFAULT_LANGUAGE


def read_event(key: str, body: dict[str, Any]) -> StepEvent:
    """The step ``body`` describes, or ``UnreadableEvent`` saying why not."""
    models: dict[str, type[ApplicationEvent]] = {
        routing.APPLICATION_REGISTERED: ApplicationRegistered,
        routing.APPLICATION_COMPLETED: ApplicationCompleted,
        routing.APPLICATION_REJECTED: ApplicationRejected,
    }
    model = models.get(key, ApplicationEvent)
    try:
        event = model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise UnreadableEvent(problems) from exc
    number, sequence = event.application_number, event.sequence
    if isinstance(event, ApplicationRegistered):
        contact = Contact(event.contact.phone, event.contact.email, language_of(event.language))
        return StepEvent(key, number, sequence, contact=contact)
    if isinstance(event, ApplicationCompleted):
        serial, act = event.act.get("meter_serial"), event.act.get("act_number")
        if not isinstance(serial, str) or not isinstance(act, str):
            raise UnreadableEvent("act: meter_serial and act_number must be strings")
        details = {"outcome": event.outcome, "meter_serial": serial, "act_number": act}
        return StepEvent(key, number, sequence, details)
    if isinstance(event, ApplicationRejected):
        details = {"reason_code": event.reason_code, "comment": event.comment}
        return StepEvent(key, number, sequence, details)
    return StepEvent(key, number, sequence)


def reason_in_words(reason_code: str, comment: str, language: str) -> str:
    """The rejection reason as the citizen reads it; never the bare code if avoidable."""
    if reason_code in RejectionReason.__members__.values():
        return REJECTION_LABELS[RejectionReason(reason_code)][language]
    return comment.strip().rstrip(".") or reason_code


def step_text(key: str, number: str, details: dict[str, str], language: str) -> str:
    """The sentence of DESIGN.md section 6 for this step, in ``language``."""
    language = language_of(language)
    if key == routing.APPLICATION_REGISTERED:
        return registration_text(number, language)
    if key == routing.APPLICATION_FORWARDED:
        return TEMPLATES["forwarded"][language].format(number=number)
    if key == routing.APPLICATION_COMPLETED:
        template = TEMPLATES[
            "existing_meter_registered"
            if details.get("outcome") == "existing_meter_registered"
            else "installed"
        ][language]
        return template.format(
            number=number, serial=details["meter_serial"], act=details["act_number"]
        )
    reason = reason_in_words(details.get("reason_code", ""), details.get("comment", ""), language)
    return TEMPLATES["rejected"][language].format(number=number, reason=reason)


def render(key: str, number: str, details: dict[str, str], language: str) -> Notice:
    """Subject, plain text and HTML of the e-mail for one step."""
    language = language_of(language)
    text = step_text(key, number, details, language)
    label = STATUS_LABELS[STEPS[key]][language]
    footer = TEMPLATES["footer"][language]
    body = (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8"></head>'
        f"<body><p>{html.escape(text)}</p>"
        f'<p style="color:#666;font-size:small">{html.escape(footer)}</p></body></html>\n'
    )
    return Notice(
        subject=TEMPLATES["subject"][language].format(number=number, label=label),
        text=f"{text}\n\n-- \n{footer}\n",
        html=body,
    )
