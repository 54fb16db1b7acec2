"""Intake's pure rules: what a submission gets, given what is stored; numbering.

No I/O here: handlers look up the subscriber and open applications, then ask these
functions what the answer is. Reading the body itself is ``submission``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.submission import (
    Submission,
    normalize_email,
    normalize_fin,
    normalize_phone,
    open_key,
    read_submission,
    requested_language,
)
from shared.clock import baku
from shared.contracts.catalogue import REASON_LABELS, Reason
from shared.contracts.errors import DEFAULT_LANGUAGE, LANGUAGES, ErrorCode, FieldError, field_error

__all__ = [
    "Accept",
    "Decision",
    "NeedsConfirmation",
    "Refuse",
    "Submission",
    "active_meter_warning_text",
    "application_number",
    "decide",
    "normalize_email",
    "normalize_fin",
    "normalize_phone",
    "open_key",
    "read_submission",
    "reason_labels",
    "registration_year",
    "requested_language",
]


def application_number(year: int, sequence: int) -> str:
    return f"SQ-{year}-{sequence:06d}"


def registration_year(moment: datetime) -> int:
    """Numbers carry the year of registration in Asia/Baku time."""
    return baku(moment).year


def reason_labels(language: str) -> list[dict[str, str]]:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return [{"code": reason.value, "label": REASON_LABELS[reason][language]} for reason in Reason]


def active_meter_warning_text(language: str) -> str:
    texts = {
        "az": (
            "Bu abonent kodunda aktiv sayğac mövcuddur. Əlavə sayğac quraşdırılmasını "
            "istəyirsinizsə, müraciəti təsdiq edin."
        ),
        "en": (
            "This subscriber code already has an active meter. Confirm the application if "
            "you want an additional meter installed."
        ),
        "ru": (
            "На этом абонентском коде уже есть активный счётчик. Подтвердите заявку, если "
            "хотите установить дополнительный счётчик."
        ),
    }
    return texts.get(language, texts[DEFAULT_LANGUAGE])


@dataclass(frozen=True)
class Accept:
    """Register it: the submission, where it goes, and whether it adds a meter."""

    submission: Submission
    district_code: str
    additional_meter: bool


@dataclass(frozen=True)
class NeedsConfirmation:
    active_meters: list[dict[str, Any]]
    language: str


@dataclass(frozen=True)
class Refuse:
    errors: list[FieldError]


Decision = Accept | NeedsConfirmation | Refuse


def decide(
    body: dict[str, Any], account: dict[str, Any] | None, open_number: str | None
) -> Decision:
    """Every rule of DESIGN.md section 4 for one submission, given what is stored.

    ``account`` is the subscriber named in the body (None when unknown); ``open_number``
    the open application holding the same subscriber code and reason, if any.
    """
    language = requested_language(body)
    read = read_submission(body)
    errors = list(read) if isinstance(read, list) else []
    fin, code = body.get("applicant_fin"), body.get("subscriber_code")
    owned = (
        isinstance(fin, str)
        and isinstance(code, str)
        and account is not None
        and account.get("applicant_fin") == normalize_fin(fin)
    )
    if isinstance(fin, str) and isinstance(code, str) and fin.strip() and code.strip():
        if not owned:
            errors.append(field_error("subscriber_code", ErrorCode.SUBSCRIBER_NOT_FOUND, language))
        elif open_number is not None:
            errors.append(
                field_error(
                    "subscriber_code",
                    ErrorCode.OPEN_APPLICATION_EXISTS,
                    language,
                    number=open_number,
                )
            )
    if errors or isinstance(read, list) or account is None:
        return Refuse(errors)
    meters = list(account.get("active_meters") or [])
    if meters and not read.additional_meter_confirmed:
        return NeedsConfirmation(meters, read.language)
    return Accept(read, str(account.get("district_code", "")), additional_meter=bool(meters))
