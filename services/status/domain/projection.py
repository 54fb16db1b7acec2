"""The projection's rules, pure: merge facts into what a document received, fold the view.

A document keeps every fact it received — application steps and overdue marks keyed by
``sequence``, notification outcomes keyed by (event, channel) — and its view is
recomputed from them on every write. So a redelivered event changes nothing, and any
arrival order of the same events ends in the same document. The current status is that of
the step with the highest sequence; an overdue mark is no step, so it never is the
status, it makes the view ``overdue`` while the application is open. Until
``application.registered`` arrives a document has no owner and no view: nobody sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.status.domain import texts
from services.status.domain.facts import STEP_EVENTS, Fact, step_status
from shared.clock import stamp
from shared.contracts.catalogue import Status
from shared.contracts.events import ApplicationRegistered
from shared.contracts.replies import (
    ApplicationSummary,
    ApplicationView,
    NotificationOutcome,
    Rejection,
    TimelineStep,
)

Received = dict[str, list[Fact]]
_STATE_RANK = {"failed": 0, "delivered": 1}
_EVENT_RANK = {model.routing_key: rank for rank, model in enumerate(STEP_EVENTS)}
_REGISTERED = step_status(ApplicationRegistered)
_KINDS = ("steps", "notifications", "overdue")


def merged(received: Received, facts: Iterable[Fact]) -> Received | None:
    """What the document holds after ``facts``; None when they add nothing new."""
    steps = {step["sequence"]: step for step in received.get("steps", [])}
    marks = {mark["sequence"]: mark for mark in received.get("overdue", [])}
    outcomes = {(n["event"], n["channel"]): n for n in received.get("notifications", [])}
    for fact in facts:
        if fact["kind"] == "step":
            steps.setdefault(fact["sequence"], fact)
        elif fact["kind"] == "overdue":
            marks.setdefault(fact["sequence"], fact)
        else:
            key = (fact["event"], fact["channel"])
            outcomes[key] = _preferred(outcomes.get(key), fact)
    result: Received = {
        "steps": [steps[sequence] for sequence in sorted(steps)],
        "notifications": [outcomes[key] for key in sorted(outcomes, key=_outcome_order)],
    }
    if marks:  # only then: documents of applications never overdue stay as they were
        result["overdue"] = [marks[sequence] for sequence in sorted(marks)]
    unchanged = all(result.get(key, []) == received.get(key, []) for key in _KINDS)
    return None if unchanged else result


def _preferred(held: Fact | None, new: Fact) -> Fact:
    """Delivered beats failed; between equals the earlier report stays (order-free)."""
    if held is None:
        return new
    if _STATE_RANK[new["state"]] != _STATE_RANK[held["state"]]:
        return new if _STATE_RANK[new["state"]] > _STATE_RANK[held["state"]] else held
    return new if _instant(new["at"]) < _instant(held["at"]) else held


def _outcome_order(key: tuple[str, str]) -> tuple[int, str, str]:
    return (_EVENT_RANK.get(key[0], len(_EVENT_RANK)), key[0], key[1])


def document(number: str, received: Received) -> dict[str, Any]:
    """The whole stored document; ``applicant_fin`` and ``submitted_key`` serve the queries."""
    doc: dict[str, Any] = {"_id": number, "received": received, "view": None}
    registered = next((s for s in received["steps"] if s["status"] == _REGISTERED), None)
    if registered is not None:
        doc["view"] = view_of(number, registered, received).model_dump(mode="json")
        doc["applicant_fin"] = registered["applicant_fin"]
        doc["submitted_key"] = stamp(_instant(registered["at"]))
    return doc


def view_of(number: str, registered: Fact, received: Received) -> ApplicationView:
    steps, language = received["steps"], registered["language"]
    current = steps[-1]
    status = Status(current["status"])
    # Overdue only while open: completion, rejection or withdrawal clears it.
    overdue = status.is_open and bool(received.get("overdue"))
    shown_marks = received.get("overdue", []) if overdue else []
    return ApplicationView(
        application_number=number,
        status=status,
        status_label=texts.status_label(status),
        subscriber_code=registered["subscriber_code"],
        reason_code=registered["reason_code"],
        channel=registered["channel"],
        submitted_at=registered["at"],
        updated_at=_latest([*steps, *received["notifications"], *shown_marks]),
        due_by=registered.get("due_by"),
        overdue=overdue,
        # docs/integration.md: lists are newest first.
        timeline=[_timeline_step(step, language) for step in reversed(steps)],
        act=current["act"] if status == Status.COMPLETED else None,
        rejection=Rejection(
            reason_code=current["reason_code"],
            message=texts.rejection_message(current["reason_code"], current["comment"], language),
        )
        if status == Status.REJECTED
        else None,
        notifications=[
            NotificationOutcome(event=n["event"], channel=n["channel"], state=n["state"])
            for n in reversed(received["notifications"])
        ],
    )


def _timeline_step(step: Fact, language: str) -> TimelineStep:
    status = Status(step["status"])
    note = None
    if status == Status.COMPLETED:
        note = texts.completion_note(step["outcome"], step["act"], language)
    elif status == Status.REJECTED:
        note = step["comment"].strip() or None
    return TimelineStep(status=status, at=step["at"], label=texts.status_label(status), note=note)


def summary(view: dict[str, Any]) -> dict[str, Any]:
    """A view as listed: without its timeline."""
    return {key: value for key, value in view.items() if key != "timeline"}


def shown(view: dict[str, Any]) -> ApplicationView:
    """A stored view as the citizen gets it."""
    return ApplicationView.model_validate(view)


def listed(view: dict[str, Any]) -> ApplicationSummary:
    """A stored view as the citizen's list shows it."""
    return ApplicationSummary.model_validate(summary(view))


def _latest(facts: list[Fact]) -> str:
    """When the view last changed: the latest time of anything it shows."""
    return str(max(facts, key=lambda fact: _instant(fact["at"]))["at"])


def _instant(at: str) -> datetime:
    return datetime.fromisoformat(at)
