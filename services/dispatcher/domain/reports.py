"""Reading a field team's ``dispatcher.report_outcome`` body: pure rules.

Every broken rule is reported at once, as intake does. The field-team app names no
language, so messages are Azerbaijani (the contract's default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.catalogue import RejectionReason
from shared.contracts.errors import DEFAULT_LANGUAGE, ErrorCode, FieldError, field_error

OUTCOMES = ("installed", "existing_meter_registered", "not_executed")
CLOSED = frozenset({"completed", "rejected"})
_READING = re.compile(r"^\d{1,9}(\.\d{1,3})?$")
_TEXT_FIELDS = ("act_number", "meter_serial", "meter_model", "installer_name")
ACT_FIELDS = (*_TEXT_FIELDS, "initial_reading_m3", "seal_numbers", "installed_at")
# field -> (expected JSON type, python type, required)
_REPORT_FIELDS: dict[str, tuple[str, type, bool]] = {
    "application_number": ("string", str, True),
    "work_order_id": ("string", str, True),
    "team_id": ("string", str, True),
    "outcome": ("string", str, True),
    "act": ("object", object, False),  # its shape is the act's own rule (invalid_act)
    "reason_code": ("string", str, False),
    "comment": ("string", str, False),
}


@dataclass(frozen=True)
class Report:
    application_number: str
    work_order_id: str
    team_id: str
    outcome: str
    act: dict[str, Any] | None
    reason_code: str | None
    comment: str


def shape_errors(
    body: dict[str, Any], fields: dict[str, tuple[str, type, bool]]
) -> list[FieldError]:
    """Unknown fields, missing required ones and wrong JSON types."""
    lang = DEFAULT_LANGUAGE
    errors = [
        field_error(name, ErrorCode.UNKNOWN_FIELD, lang) for name in body if name not in fields
    ]
    for name, (expected, kind, required) in fields.items():
        value = body.get(name)
        if value is None or (required and isinstance(value, str) and not value.strip()):
            if required:
                errors.append(field_error(name, ErrorCode.REQUIRED, lang))
        elif kind is object:
            continue
        elif not isinstance(value, kind) or isinstance(value, bool):
            errors.append(field_error(name, ErrorCode.INVALID_TYPE, lang, expected=expected))
    return errors


def read_report(body: dict[str, Any]) -> Report | list[FieldError]:
    errors = shape_errors(body, _REPORT_FIELDS)
    outcome = body.get("outcome")
    if isinstance(outcome, str) and outcome.strip() and outcome not in OUTCOMES:
        expected = " | ".join(OUTCOMES)
        errors.append(field_error("outcome", ErrorCode.INVALID_TYPE, "az", expected=expected))
    if errors:
        return errors
    act, reason = body.get("act"), body.get("reason_code") or None
    if outcome == "not_executed":
        if act is not None:
            errors.append(_invalid_act("act", "icra edilmədikdə akt göndərilmir"))
        if reason not in RejectionReason.__members__.values():
            errors.append(field_error("reason_code", ErrorCode.INVALID_REASON_CODE, "az"))
    else:
        errors.extend(act_errors(act))
        if reason is not None:
            errors.append(field_error("reason_code", ErrorCode.INVALID_REASON_CODE, "az"))
    if errors:
        return errors
    return Report(
        application_number=body["application_number"].strip(),
        work_order_id=body["work_order_id"].strip(),
        team_id=body["team_id"].strip(),
        outcome=body["outcome"],
        act=None if act is None else {name: act[name] for name in ACT_FIELDS},
        reason_code=reason,
        comment=body.get("comment") or "",
    )


def act_errors(act: Any) -> list[FieldError]:
    """An installation act must carry every field; only ``meter_model`` may be empty."""
    if act is None:
        return [field_error("act", ErrorCode.ACT_REQUIRED, "az")]
    if not isinstance(act, dict):
        return [_invalid_act("act", "akt obyekt olmalıdır")]
    problems = [(name, "naməlum sahədir") for name in act if name not in ACT_FIELDS]
    problems.extend((name, problem) for name in ACT_FIELDS if (problem := _act_value(name, act)))
    return [_invalid_act(f"act.{name}", f"{name} {problem}") for name, problem in problems]


def _act_value(name: str, act: dict[str, Any]) -> str | None:
    """What is wrong with one act field (az), or None."""
    value = act.get(name)
    if value is None:
        return "yoxdur"
    if name == "seal_numbers":
        if isinstance(value, list) and value and all(_text(item) for item in value):
            return None
        return "plomb nömrələrinin boş olmayan siyahısı olmalıdır"
    if not isinstance(value, str):
        return "mətn olmalıdır"
    if name == "initial_reading_m3" and not _READING.match(value):
        return "onluq ədəd olmalıdır, məsələn 0.000"
    if name == "installed_at" and not _moment(value):
        return "saat qurşağı ilə ISO 8601 vaxtı olmalıdır"
    if name != "meter_model" and not value.strip():
        return "boş ola bilməz"
    return None


def state_errors(work_order: dict[str, Any] | None, body: dict[str, Any]) -> list[FieldError]:
    """Whether the team named in ``body`` may close this work order now (the first reason).

    Checked only once the body names an application, a work order and a team.
    """
    names = [body.get(name) for name in ("application_number", "work_order_id", "team_id")]
    if not all(isinstance(name, str) and name.strip() for name in names):
        return []
    number, _, team_id = (str(name).strip() for name in names)
    if work_order is None or work_order["_id"] != number:
        return [field_error("work_order_id", ErrorCode.UNKNOWN_WORK_ORDER, "az")]
    assigned_team = work_order.get("team_id")
    closed = work_order.get("status") in CLOSED
    # A work order closed before any team got it (no meter in stock) is simply closed.
    if closed and assigned_team in (None, team_id):
        return [field_error("work_order_id", ErrorCode.WORK_ORDER_CLOSED, "az")]
    if assigned_team != team_id:
        return [field_error("team_id", ErrorCode.WRONG_TEAM, "az")]
    if closed:
        return [field_error("work_order_id", ErrorCode.WORK_ORDER_CLOSED, "az")]
    return []


def _invalid_act(field: str, detail: str) -> FieldError:
    return field_error(field, ErrorCode.INVALID_ACT, "az", detail=detail)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _moment(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False
