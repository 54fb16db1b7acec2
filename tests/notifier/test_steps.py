"""Which events the citizen hears of is the registry's word (``notifies_citizen``), and every
such step has its texts; the others are never rendered as something else."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.notifier.domain.steps import STEPS, reason_in_words, step_of
from services.notifier.domain.texts import render, sms_text, step_text
from shared.contracts.events import EVENT_MODELS, Event
from shared.contracts.reading import read_event
from shared.contracts.registry import EVENTS_EXCHANGE, events_where
from shared.topology import queue_named
from tests.notifier.conftest import (
    completed,
    forwarded,
    overdue,
    registered,
    rejected,
    withdrawn,
)

N = "SQ-2026-000042"
DETAILS = {
    "outcome": "installed",
    "meter_serial": "WM-1",
    "act_number": "AKT-1",
    "reason_code": "no_meter_stock",
    "comment": "",
}


def sample_events() -> list[Event]:
    """One event of every model of the registry."""
    bodies: list[tuple[str, dict[str, Any]]] = [
        ("application.registered", registered(N)),
        ("application.forwarded", forwarded(N)),
        (
            "application.assigned",
            {
                "application_number": N,
                "occurred_at": "2026-11-27T10:00:02.000+04:00",
                "sequence": 3,
                "work_order_id": "WO-2026-000001",
                "team_id": "T-01",
            },
        ),
        ("application.completed", completed(N)),
        ("application.rejected", rejected(N)),
        ("application.withdrawn", withdrawn(N)),
        ("application.overdue", overdue(N)),
    ]
    outcome = {
        "application_number": N,
        "occurred_at": "2026-11-27T10:00:03.000+04:00",
        "event": "application.registered",
        "channel": "sms",
        "attempts": 1,
    }
    bodies += [("notification.delivered", outcome), ("notification.failed", outcome)]
    return [cast(Event, read_event(key, body)) for key, body in bodies]


def test_the_samples_cover_every_event_of_the_registry() -> None:
    assert {type(event) for event in sample_events()} == set(EVENT_MODELS)


def test_the_citizen_hears_of_exactly_the_events_the_registry_marks_so() -> None:
    told = {type(event) for event in sample_events() if step_of(event) is not None}
    assert told == set(events_where(notifies_citizen=True))
    assert set(STEPS) == {model.routing_key for model in told}


def test_a_step_keeps_its_application_its_place_and_its_event() -> None:
    for event in sample_events():
        step = step_of(event)
        if step is not None:
            assert (step.key, step.number) == (event.routing_key, N)
            assert step.sequence == getattr(event, "sequence", None)


@pytest.mark.parametrize("key", sorted(STEPS))
@pytest.mark.parametrize("language", ["az", "en", "ru"])
def test_every_step_the_citizen_hears_of_has_its_texts(key: str, language: str) -> None:
    notice = render(key, N, DETAILS, language)
    assert N in notice.subject
    assert notice.text.startswith(step_text(key, N, DETAILS, language))
    assert N in sms_text(key, N, DETAILS, language)


@pytest.mark.parametrize("key", ["application.assigned", "notification.delivered", "unknown"])
def test_an_event_the_citizen_is_not_told_of_has_no_text(key: str) -> None:
    with pytest.raises(ValueError, match="no text"):
        step_text(key, N, DETAILS, "az")


def test_an_unknown_rejection_reason_is_told_by_the_comment_or_else_its_code() -> None:
    assert reason_in_words("pipe_frozen", "Boru donub.", "az") == "Boru donub"
    assert reason_in_words("pipe_frozen", "  ", "az") == "pipe_frozen"
    assert reason_in_words("no_meter_stock", "ignored", "en") == "there is no meter in stock"


def test_a_withdrawal_is_a_step_the_citizen_is_told_of_and_an_overdue_one_is_not() -> None:
    events = {type(event).__name__: event for event in sample_events()}
    step = step_of(events["ApplicationWithdrawn"])
    assert step is not None
    assert (step.key, step.number, step.sequence, step.details) == (
        "application.withdrawn",
        N,
        3,
        {},
    )
    assert step_of(events["ApplicationOverdue"]) is None
    assert "application.withdrawn" in STEPS
    assert "application.overdue" not in STEPS


def test_the_notifiers_queue_is_bound_to_the_withdrawal_and_not_to_overdue() -> None:
    queue = queue_named("notifier.application_events")
    keys = {key for exchange, key in queue.bindings if exchange == EVENTS_EXCHANGE}
    assert keys == set(STEPS)
    assert "application.withdrawn" in keys
    assert "application.overdue" not in keys
