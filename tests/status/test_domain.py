"""The projection's pure rules: facts from events, merging, folding into the view."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.status import domain
from shared.contracts.catalogue import Status
from shared.contracts.events import EVENT_MODELS, Event
from shared.contracts.reading import MalformedMessage, read_event
from tests.status.events import (
    assigned,
    completed,
    forwarded,
    notified,
    overdue,
    registered,
    rejected,
    withdrawn,
)

NUMBER = "SQ-2026-000001"


def fact_from(key: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """What the projection keeps of a wire event: the registry's reader, then the domain."""
    event = read_event(key, body)
    return None if event is None else domain.fact_of(cast(Event, event))


def all_facts() -> list[dict[str, Any]]:
    events = [
        ("application.registered", registered(NUMBER, language="ru")),
        ("application.forwarded", forwarded(NUMBER)),
        ("application.assigned", assigned(NUMBER)),
        ("application.overdue", overdue(NUMBER, sequence=4)),
        ("application.completed", {**completed(NUMBER), "sequence": 5}),
        ("notification.delivered", notified(NUMBER, "application.registered", "email", 1)),
        ("notification.failed", notified(NUMBER, "application.registered", "sms", 2)),
        ("notification.delivered", notified(NUMBER, "application.registered", "sms", 7)),
        ("notification.failed", notified(NUMBER, "application.completed", "sms", 8)),
        ("notification.failed", notified(NUMBER, "application.completed", "sms", 9)),
    ]
    found = [fact_from(key, body) for key, body in events]
    return [fact for fact in found if fact is not None]


def fold_one_by_one(facts: list[dict[str, Any]]) -> dict[str, Any]:
    received: dict[str, Any] = {}
    for fact in facts:
        received = domain.merged(received, [fact]) or received
    return domain.document(NUMBER, received)


@settings(max_examples=200, derandomize=True)
@given(st.permutations(all_facts()), st.lists(st.integers(0, 9), max_size=6))
def test_any_order_with_any_repeats_folds_into_the_same_document(
    order: list[dict[str, Any]], repeats: list[int]
) -> None:
    facts = all_facts()
    shuffled = order + [order[index] for index in repeats]

    assert fold_one_by_one(shuffled) == fold_one_by_one(facts)


def test_the_folded_journey_is_completed_and_no_longer_overdue() -> None:
    view = fold_one_by_one(all_facts())["view"]

    assert (view["status"], view["overdue"], view["due_by"]) == ("completed", False, "2026-12-10")
    assert [step["status"] for step in view["timeline"]] == [
        "completed",
        "assigned",
        "forwarded",
        "registered",
    ]


def test_a_delivery_outranks_a_failure_of_the_same_event_and_channel() -> None:
    document = fold_one_by_one(all_facts())

    assert document["view"]["notifications"] == [
        {"event": "application.completed", "channel": "sms", "state": "failed"},
        {"event": "application.registered", "channel": "sms", "state": "delivered"},
        {"event": "application.registered", "channel": "email", "state": "delivered"},
    ]


def test_a_repeated_fact_is_reported_as_nothing_new() -> None:
    facts = all_facts()
    received = domain.merged({}, facts)

    assert received is not None
    assert domain.merged(received, facts[:3]) is None


def test_the_highest_sequence_decides_the_status_even_when_it_came_first() -> None:
    facts = all_facts()
    document = fold_one_by_one([facts[4], facts[1], facts[0]])

    assert document["view"]["status"] == "completed"
    assert [step["status"] for step in document["view"]["timeline"]] == [
        "completed",
        "forwarded",
        "registered",
    ]
    assert document["view"]["timeline"][0]["note"] == (
        "Счётчик установлен: WM-778812, акт: AKT-2026-0042."
    )


def test_a_document_without_its_registration_has_no_owner_and_no_view() -> None:
    document = fold_one_by_one(all_facts()[1:])

    assert document["view"] is None
    assert "applicant_fin" not in document
    assert len(document["received"]["steps"]) == 3
    assert len(document["received"]["overdue"]) == 1


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("az", "İcra edilmədi: sayğac ehtiyatı yoxdur."),
        ("en", "Not executed: there is no meter in stock."),
        ("ru", "Не исполнена: нет счётчиков на складе."),
    ],
)
def test_the_rejection_message_names_the_reason_in_words(language: str, message: str) -> None:
    facts = [
        fact_from("application.registered", registered(NUMBER, language=language)),
        fact_from("application.rejected", rejected(NUMBER, sequence=2)),
    ]
    document = domain.document(NUMBER, domain.merged({}, facts) or {})

    assert document["view"]["rejection"] == {"reason_code": "no_meter_stock", "message": message}
    assert document["view"]["status_label"] == "İcra edilmədi"


def test_the_fin_is_normalized_and_times_shown_in_baku_time() -> None:
    body = {**registered(NUMBER, fin=" 5abcd12"), "occurred_at": "2026-11-26T05:00:00Z"}
    fact = fact_from("application.registered", body)

    assert fact is not None
    assert fact["applicant_fin"] == "5ABCD12"
    assert fact["at"] == "2026-11-26T09:00:00.000+04:00"


@pytest.mark.parametrize(
    ("key", "body", "complaint"),
    [
        ("application.forwarded", {"application_number": NUMBER}, "sequence"),
        ("application.forwarded", {**forwarded(NUMBER), "sequence": 0}, "sequence"),
        ("application.forwarded", {**forwarded("SQ-1"), "sequence": 2}, "SQ-<year>"),
        ("application.forwarded", {**forwarded(NUMBER), "occurred_at": "soon"}, "occurred_at"),
        (
            "application.completed",
            {**completed(NUMBER), "act": {"act_number": "A"}},
            r"act\.meter_serial",
        ),
        ("notification.failed", {**notified(NUMBER, "x", "fax")}, "channel"),
    ],
)
def test_an_event_that_breaks_its_contract_is_unreadable(
    key: str, body: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(MalformedMessage, match=complaint):
        fact_from(key, body)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({**forwarded("SQ-1"), "sequence": 2}, "SQ-<year>"),
        ({**forwarded(NUMBER), "occurred_at": "soon"}, "occurred_at"),
    ],
)
def test_what_the_model_accepts_but_the_projection_cannot_use_is_unreadable(
    body: dict[str, Any], complaint: str
) -> None:
    event = read_event("application.forwarded", body)
    assert event is not None

    with pytest.raises(domain.UnreadableEvent, match=complaint):
        domain.fact_of(cast(Event, event))


def test_events_the_projection_does_not_use_give_no_fact() -> None:
    assert fact_from("application.archived", {"application_number": NUMBER}) is None


BODIES = {
    "application.registered": registered(NUMBER),
    "application.forwarded": forwarded(NUMBER),
    "application.assigned": assigned(NUMBER),
    "application.completed": completed(NUMBER),
    "application.rejected": rejected(NUMBER),
    "application.withdrawn": withdrawn(NUMBER),
    "application.overdue": overdue(NUMBER),
    "notification.delivered": notified(NUMBER, "application.registered", "email"),
    "notification.failed": notified(NUMBER, "application.registered", "sms"),
}


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda model: model.routing_key)
def test_each_event_of_the_registry_is_a_step_an_overdue_mark_or_a_notification_outcome(
    model: Any,
) -> None:
    fact = fact_from(model.routing_key, BODIES[model.routing_key])

    assert fact is not None
    if model.status is not None:
        assert (fact["kind"], fact["status"]) == ("step", model.status)
    elif model.routing_key == "application.overdue":
        assert (fact["kind"], fact["sequence"], fact["due_by"]) == ("overdue", 4, "2026-12-10")
        assert "status" not in fact
    else:
        assert fact["kind"] == "notification"
        assert fact["state"] == model.routing_key.removeprefix("notification.")


def test_steps_rank_in_the_registrys_order() -> None:
    assert [model.status for model in domain.STEP_EVENTS] == [
        Status.REGISTERED,
        Status.FORWARDED,
        Status.ASSIGNED,
        Status.COMPLETED,
        Status.REJECTED,
        Status.WITHDRAWN,
    ]
