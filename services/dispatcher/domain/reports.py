"""Whether a field team's report may close its work order now (pure).

The report's shape and its act and reason rules are the contract's
(``shared.contracts.commands.ReportOutcome``); here are the rules against the stored
work order. Every broken rule is reported at once; the field app names no language, so
messages are Azerbaijani (the contract's default).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.dispatcher.domain.workorders import CLOSED, WorkOrder
from shared.contracts.commands import ReportOutcome
from shared.contracts.errors import DEFAULT_LANGUAGE, ErrorCode, FieldError, field_error
from shared.contracts.reading import Refusal


@dataclass(frozen=True)
class ReportNames:
    """The application, work order and team a report names."""

    application_number: str
    work_order_id: str
    team_id: str


def names_of(parsed: ReportOutcome | Refusal) -> ReportNames | None:
    """The names a report carries, when all three arrived as non-blank text (stripped).

    A refused report still names them when its other fields are wrong, so its state
    rules are reported together with the rest.
    """
    if isinstance(parsed, ReportOutcome):
        return ReportNames(parsed.application_number, parsed.work_order_id, parsed.team_id)
    number, order, team = (
        parsed.text(name) for name in ("application_number", "work_order_id", "team_id")
    )
    if number is None or order is None or team is None:
        return None
    return ReportNames(number.strip(), order.strip(), team.strip())


def team_named(parsed: ReportOutcome | Refusal) -> str | None:
    """The team a report names (stripped), even when its other fields are wrong."""
    if isinstance(parsed, ReportOutcome):
        return parsed.team_id
    team = parsed.text("team_id")
    return None if team is None or not team.strip() else team.strip()


def forbidden_team() -> FieldError:
    """A report for a team its sender may not act for (docs/security.md)."""
    return field_error("team_id", ErrorCode.FORBIDDEN, DEFAULT_LANGUAGE)


def closed_by(work_order: WorkOrder | None, message_id: str | None) -> bool:
    """Whether this very report closed the work order: a concurrent copy of the message got
    there first, so this copy gets the same answer (accepted), not ``work_order_closed``."""
    return bool(
        message_id and work_order is not None and work_order.get("report_message_id") == message_id
    )


# A work order lists the message ids of the reports refused against it (``refused_reports``,
# empty when it opens), so a report's one read of its work order tells whether a refusal
# of that message may be stored: only then are the stored refusals read too. A work
# order stored before it kept the list, or holding this many, is always looked up.
REFUSALS_LISTED = 32


def may_have_refused(work_order: WorkOrder, message_id: str) -> bool:
    """Whether a refusal of report ``message_id`` against ``work_order`` may be stored."""
    listed = work_order.get("refused_reports")
    return listed is None or message_id in listed or len(listed) >= REFUSALS_LISTED


def lists_refusals(work_order: WorkOrder | None) -> bool:
    """Whether a refusal against ``work_order`` is added to its list before it is stored
    (not past ``REFUSALS_LISTED``: from there on every report's refusals are looked up)."""
    if work_order is None:
        return False
    listed = work_order.get("refused_reports")
    return listed is not None and len(listed) < REFUSALS_LISTED


def state_errors(work_order: WorkOrder | None, names: ReportNames) -> list[FieldError]:
    """Whether the team ``names`` gives may close this work order now (the first reason).

    ``work_order`` is the one stored under the named ``work_order_id``, if any.
    """
    lang = DEFAULT_LANGUAGE
    if work_order is None or work_order["_id"] != names.application_number:
        return [field_error("work_order_id", ErrorCode.UNKNOWN_WORK_ORDER, lang)]
    assigned_team = work_order.get("team_id")
    closed = work_order.get("status") in CLOSED
    # A work order closed before any team got it (no meter in stock) is simply closed.
    if closed and assigned_team in (None, names.team_id):
        return [field_error("work_order_id", ErrorCode.WORK_ORDER_CLOSED, lang)]
    if assigned_team != names.team_id:
        return [field_error("team_id", ErrorCode.WRONG_TEAM, lang)]
    if closed:
        return [field_error("work_order_id", ErrorCode.WORK_ORDER_CLOSED, lang)]
    return []


def report_errors(
    parsed: ReportOutcome | Refusal, work_order: WorkOrder | None
) -> list[FieldError]:
    """Every broken rule of a report: the contract's first, then the work order's."""
    errors = list(parsed.errors) if isinstance(parsed, Refusal) else []
    names = names_of(parsed)
    if names is not None:
        errors.extend(state_errors(work_order, names))
    return errors
