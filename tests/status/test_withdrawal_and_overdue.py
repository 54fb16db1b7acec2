"""Withdrawal and overdue in the view (docs/integration.md), as pure rules and in-process.

``application.withdrawn`` is a step like the others; ``application.overdue`` has a sequence
of its own yet is no step: it never becomes the status, it marks an open application
overdue. Every order of the same events folds into the same document.
"""

from __future__ import annotations

import itertools
from typing import Any, cast

import pytest

from services.status import domain
from shared.contracts.events import Event
from shared.contracts.reading import read_event
from tests.status.conftest import steps
from tests.status.events import (
    DUE_BY,
    FIN,
    assigned,
    completed,
    forwarded,
    notified,
    overdue,
    registered,
    rejected,
    withdrawn,
)
from tests.status.inprocess import LocalStatus

NUMBER = "SQ-2026-000701"
Events = list[tuple[str, dict[str, Any]]]


def fold(events: Events) -> dict[str, Any]:
    """The document the events give when projected one at a time, in this order."""
    received: dict[str, Any] = {}
    for key, body in events:
        event = read_event(key, body)
        assert event is not None
        received = domain.merged(received, [domain.fact_of(cast(Event, event))]) or received
    return domain.document(NUMBER, received)


WITHDRAWN_LATE: Events = [
    ("application.registered", registered(NUMBER)),
    ("application.forwarded", forwarded(NUMBER)),
    ("application.overdue", overdue(NUMBER, sequence=3)),
    ("application.withdrawn", withdrawn(NUMBER, sequence=4, minute=9)),
    ("notification.delivered", notified(NUMBER, "application.withdrawn", "email", minute=10)),
]
OVERDUE_LAST: Events = [
    ("application.registered", registered(NUMBER)),
    ("application.forwarded", forwarded(NUMBER)),
    ("application.assigned", assigned(NUMBER)),
    ("application.overdue", overdue(NUMBER, sequence=9, minute=30)),
]


def every_order(events: Events) -> list[dict[str, Any]]:
    return [fold(list(order)) for order in itertools.permutations(events)]


def test_a_withdrawal_after_an_overdue_mark_folds_alike_in_every_order() -> None:
    documents = every_order(WITHDRAWN_LATE)

    assert len(documents) == 120
    assert all(document == documents[0] for document in documents)
    view = documents[0]["view"]
    assert (view["status"], view["status_label"]) == ("withdrawn", "Geri götürüldü")
    assert view["overdue"] is False
    assert [(s["status"], s["label"]) for s in view["timeline"]] == [
        ("withdrawn", "Geri götürüldü"),
        ("forwarded", "İcraya yönləndirildi"),
        ("registered", "Qeydiyyata alındı"),
    ]
    assert view["timeline"][0]["at"] == "2026-11-26T09:09:00.000+04:00"
    assert view["timeline"][0]["note"] is None
    assert (view["act"], view["rejection"]) == (None, None)
    assert view["notifications"] == [
        {"event": "application.withdrawn", "channel": "email", "state": "delivered"}
    ]


def test_an_overdue_mark_with_the_highest_sequence_never_becomes_the_status() -> None:
    documents = every_order(OVERDUE_LAST)

    assert all(document == documents[0] for document in documents)
    view = documents[0]["view"]
    assert (view["status"], view["overdue"], view["due_by"]) == ("assigned", True, DUE_BY)
    assert [step["status"] for step in view["timeline"]] == ["assigned", "forwarded", "registered"]
    assert view["updated_at"] == "2026-11-26T09:30:00.000+04:00"  # when it turned overdue


def test_a_repeated_overdue_mark_adds_nothing_and_another_changes_no_view() -> None:
    document = fold(OVERDUE_LAST)
    received = document["received"]
    again = read_event("application.overdue", overdue(NUMBER, sequence=9, minute=30))
    later = read_event("application.overdue", overdue(NUMBER, sequence=10, minute=40))
    assert again is not None
    assert later is not None

    assert domain.merged(received, [domain.fact_of(cast(Event, again))]) is None
    with_later = domain.merged(received, [domain.fact_of(cast(Event, later))])
    assert with_later is not None
    assert domain.document(NUMBER, with_later)["view"]["overdue"] is True


@pytest.mark.parametrize(
    ("key", "body", "status"),
    [
        ("application.completed", {**completed(NUMBER), "sequence": 5}, "completed"),
        ("application.rejected", rejected(NUMBER, sequence=5), "rejected"),
        ("application.withdrawn", withdrawn(NUMBER, sequence=5), "withdrawn"),
    ],
)
def test_closing_an_application_clears_overdue(key: str, body: dict[str, Any], status: str) -> None:
    marked = [*OVERDUE_LAST[:3], ("application.overdue", overdue(NUMBER, sequence=4))]
    before = fold(marked)["view"]
    after = fold([*marked, (key, body)])["view"]

    assert (before["status"], before["overdue"]) == ("assigned", True)
    assert (after["status"], after["overdue"], after["due_by"]) == (status, False, DUE_BY)


def test_an_application_never_overdue_shows_its_due_date_and_is_not_overdue() -> None:
    view = fold(OVERDUE_LAST[:3])["view"]

    assert (view["due_by"], view["overdue"]) == (DUE_BY, False)


def test_a_registration_without_a_due_date_shows_none() -> None:
    body = {key: value for key, value in registered(NUMBER).items() if key != "due_by"}
    view = fold([("application.registered", body)])["view"]

    assert (view["due_by"], view["overdue"]) == (None, False)


def test_the_address_is_kept_for_the_act_but_not_shown() -> None:
    document = fold([*OVERDUE_LAST[:3], ("application.completed", completed(NUMBER))])

    assert "address" not in document["view"]
    copy = domain.act_copy(document)
    assert copy is not None
    assert copy.address.startswith("Bakı şəhəri, Nəsimi rayonu")
    assert (copy.application_number, copy.subscriber_code) == (NUMBER, "1000001")
    assert copy.act.act_number == "AKT-2026-0042"
    assert domain.act_copy(fold(OVERDUE_LAST)) is None  # not completed: no act


async def test_the_view_and_the_list_carry_due_by_and_overdue() -> None:
    local = LocalStatus()
    for key, body in OVERDUE_LAST:
        await local.publish(key, body)
    await local.projected(NUMBER, steps(3))

    one = await local.portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": NUMBER}
    )
    listed = await local.portal.request("status.list_applications", {"applicant_fin": FIN})

    assert (one.body["due_by"], one.body["overdue"]) == (DUE_BY, True)
    [summary] = listed.body["applications"]
    assert (summary["due_by"], summary["overdue"], summary["status"]) == (DUE_BY, True, "assigned")
