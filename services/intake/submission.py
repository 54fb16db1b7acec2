"""Reading a submission: every rule that needs no stored data (DESIGN.md section 4).

Each field is checked on its own so that every broken rule gets its code, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from shared.contracts.catalogue import Reason
from shared.contracts.errors import DEFAULT_LANGUAGE, LANGUAGES, ErrorCode, FieldError, field_error

NOTES_LIMIT = 1000
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}

# field name -> (expected JSON type, python types, required)
_FIELDS: dict[str, tuple[str, tuple[type, ...], bool]] = {
    "submission_id": ("string", (str,), True),
    "applicant_fin": ("string", (str,), True),
    "subscriber_code": ("string", (str,), True),
    "reason_code": ("string", (str,), True),
    "phone": ("string", (str,), True),
    "email": ("string", (str,), True),
    "notes": ("string", (str,), False),
    "additional_meter_confirmed": ("boolean", (bool,), False),
    "data_confirmed": ("boolean", (bool,), True),
    "language": ("string", (str,), False),
}


@dataclass(frozen=True)
class Submission:
    """A submission whose every field passed its own rules."""

    submission_id: str
    applicant_fin: str
    subscriber_code: str
    reason_code: Reason
    phone: str  # E.164
    email: str
    notes: str
    additional_meter_confirmed: bool
    language: str

    @property
    def open_key(self) -> str:
        return open_key(self.subscriber_code, self.reason_code)


def open_key(subscriber_code: str, reason_code: str) -> str:
    """The key that allows one open application per subscriber code and reason."""
    return f"{subscriber_code}|{reason_code}"


def requested_language(body: dict[str, Any]) -> str:
    language = body.get("language", DEFAULT_LANGUAGE)
    return language if isinstance(language, str) and language in LANGUAGES else DEFAULT_LANGUAGE


def normalize_fin(value: str) -> str:
    return value.strip().upper()


def normalize_phone(value: str) -> str | None:
    """The number as E.164 if it is an Azerbaijani mobile number, else None."""
    try:
        number = phonenumbers.parse(value, "AZ")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 994 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def read_submission(body: dict[str, Any]) -> Submission | list[FieldError]:
    """Every rule that needs no stored data, all broken ones reported at once."""
    language = requested_language(body)
    errors: list[FieldError] = []
    for name in body:
        if name not in _FIELDS:
            errors.append(field_error(name, ErrorCode.UNKNOWN_FIELD, language))
    values: dict[str, Any] = {}
    for name, (expected, types, required) in _FIELDS.items():
        if name not in body or body[name] is None:
            if required:
                errors.append(field_error(name, ErrorCode.REQUIRED, language))
            continue
        value = body[name]
        # bool is an int in Python; a JSON number is never a valid boolean or string here.
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            errors.append(field_error(name, ErrorCode.INVALID_TYPE, language, expected=expected))
            continue
        if required and isinstance(value, str) and not value.strip():
            errors.append(field_error(name, ErrorCode.REQUIRED, language))
            continue
        values[name] = value
    errors.extend(_rule_errors(values, language))
    if errors:
        return errors
    return Submission(
        submission_id=values["submission_id"].strip(),
        applicant_fin=normalize_fin(values["applicant_fin"]),
        subscriber_code=values["subscriber_code"].strip(),
        reason_code=Reason(values["reason_code"]),
        phone=values["phone"],
        email=values["email"],
        notes=values.get("notes", ""),
        additional_meter_confirmed=values.get("additional_meter_confirmed", False),
        language=values.get("language", DEFAULT_LANGUAGE),
    )


def _rule_errors(values: dict[str, Any], language: str) -> list[FieldError]:
    """Field rules beyond type; normalizes phone and e-mail in ``values`` in place."""
    errors: list[FieldError] = []
    if "language" in values and values["language"] not in LANGUAGES:
        errors.append(field_error("language", ErrorCode.INVALID_LANGUAGE, language))
    if "phone" in values:
        phone = normalize_phone(values["phone"])
        if phone is None:
            errors.append(field_error("phone", ErrorCode.INVALID_PHONE, language))
        else:
            values["phone"] = phone
    if "email" in values:
        email = normalize_email(values["email"])
        if email is None:
            errors.append(field_error("email", ErrorCode.INVALID_EMAIL, language))
        else:
            values["email"] = email
    if "reason_code" in values and values["reason_code"] not in Reason.__members__.values():
        errors.append(field_error("reason_code", ErrorCode.UNKNOWN_REASON, language))
    if "notes" in values and len(values["notes"]) > NOTES_LIMIT:
        errors.append(field_error("notes", ErrorCode.NOTES_TOO_LONG, language))
    if "data_confirmed" in values and values["data_confirmed"] is not True:
        errors.append(field_error("data_confirmed", ErrorCode.DATA_NOT_CONFIRMED, language))
    return errors
