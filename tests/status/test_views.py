"""What the citizen sees of each application, in-process: the service's routes over the
in-memory store, no broker. Events go to the route of ``status.application_events`` and
queries through ``LocalPortal``; delivery over the broker is proven in ``test_projection``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.status.conftest import outcomes, steps
from tests.status.events import (
    FIN,
    assigned,
    forwarded,
    journey,
    notified,
    registered,
    rejected,
)
from tests.status.inprocess import LocalStatus
from tests.support.inprocess import LocalPortal

OTHER_FIN = "7XYZW99"
Portal = LocalPortal
EventPublisher = LocalStatus


@pytest.fixture
def local() -> LocalStatus:
    return LocalStatus()


@pytest.fixture
def portal(local: LocalStatus) -> LocalPortal:
    return local.portal


@pytest.fixture
def producer(local: LocalStatus) -> LocalStatus:
    return local


@pytest.fixture
def projected(local: LocalStatus) -> Any:
    return local.projected


def comparable(document: Any, number: str) -> Any:
    """A document with what differs between applications (number, version) taken out."""
    if isinstance(document, dict):
        return {k: comparable(v, number) for k, v in document.items() if k != "version"}
    if isinstance(document, list):
        return [comparable(item, number) for item in document]
    return document.replace(number, "<number>") if isinstance(document, str) else document


async def test_a_registered_application_shows_its_status_in_azerbaijani(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000101"
    await producer.publish("application.registered", registered(number))
    await projected(number, steps(1))

    reply = await portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": number}
    )

    assert reply.message.type == "GetApplicationReply"
    assert reply.body["application_number"] == number
    assert reply.body["status"] == "registered"
    assert reply.body["status_label"] == "Qeydiyyata alındı"
    assert reply.body["subscriber_code"] == "1000001"
    assert reply.body["reason_code"] == "new_installation"
    assert reply.body["channel"] == "e-gov"
    assert reply.body["submitted_at"] == "2026-11-26T09:00:00.000+04:00"
    assert reply.body["updated_at"] == reply.body["submitted_at"]
    assert reply.body["timeline"] == [
        {
            "status": "registered",
            "at": reply.body["submitted_at"],
            "label": "Qeydiyyata alındı",
            "note": None,
        }
    ]
    assert reply.body["act"] is None
    assert reply.body["rejection"] is None
    assert reply.body["notifications"] == []


async def test_a_rejection_gives_the_reason_in_words_in_the_applications_language(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000103"
    await producer.publish("application.registered", registered(number, language="en"))
    await producer.publish("application.forwarded", forwarded(number))
    await producer.publish("application.rejected", rejected(number))
    await projected(number, steps(3))

    reply = await portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": number}
    )

    assert reply.body["status"] == "rejected"
    assert reply.body["status_label"] == "İcra edilmədi"
    assert reply.body["rejection"] == {
        "reason_code": "no_meter_stock",
        "message": "Not executed: there is no meter in stock.",
    }
    assert [step["status"] for step in reply.body["timeline"]] == [
        "rejected",
        "forwarded",
        "registered",
    ]
    assert reply.body["timeline"][0]["note"] == "Rayonda sayğac ehtiyatı yoxdur."
    assert reply.body["act"] is None


async def test_notification_outcomes_are_shown_per_event_and_channel(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000104"
    await producer.publish("application.registered", registered(number))
    await producer.publish(
        "notification.failed",
        {**notified(number, "application.registered", "sms"), "error": "gateway said 400"},
    )
    await producer.publish(
        "notification.delivered", notified(number, "application.registered", "email", minute=6)
    )
    await projected(number, outcomes(2))

    reply = await portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": number}
    )

    assert reply.body["notifications"] == [
        {"event": "application.registered", "channel": "sms", "state": "failed"},
        {"event": "application.registered", "channel": "email", "state": "delivered"},
    ]
    assert reply.body["status"] == "registered"
    assert reply.body["updated_at"] == "2026-11-26T09:06:00.000+04:00"


async def test_every_order_of_one_applications_events_ends_in_the_same_document(
    producer: EventPublisher, projected: Any
) -> None:
    orders = list(itertools.permutations(range(4)))
    assert len(orders) == 24
    for index, order in enumerate(orders):
        number = f"SQ-2026-{200 + index:06d}"
        events = journey(number)
        for position in order:
            await producer.publish(*events[position])

    documents = [
        comparable(
            await projected(f"SQ-2026-{200 + index:06d}", steps(4)), f"SQ-2026-{200 + index:06d}"
        )
        for index in range(len(orders))
    ]

    assert all(document == documents[0] for document in documents)
    assert documents[0]["view"]["status"] == "completed"
    assert len(documents[0]["view"]["timeline"]) == 4


async def test_someone_elses_number_is_not_found_and_not_listed(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    mine, theirs = "SQ-2026-000107", "SQ-2026-000108"
    await producer.publish("application.registered", registered(mine))
    await producer.publish("application.registered", registered(theirs, fin=OTHER_FIN))
    await projected(mine, steps(1))
    await projected(theirs, steps(1))

    asked = await portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": theirs}
    )
    listed = await portal.request("status.list_applications", {"applicant_fin": FIN})
    unknown = await portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": "SQ-2026-999999"}
    )

    assert asked.body == {"outcome": "not_found"}
    assert unknown.body == {"outcome": "not_found"}
    assert [view["application_number"] for view in listed.body["applications"]] == [mine]


async def test_events_before_the_registration_are_kept_but_shown_to_nobody(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000109"
    query = {"applicant_fin": FIN, "application_number": number}
    await producer.publish("application.assigned", assigned(number))
    await producer.publish(
        "notification.delivered", notified(number, "application.forwarded", "email")
    )
    early = await projected(number, lambda d: d is not None and d["received"]["notifications"])

    hidden = await portal.request("status.get_application", query)
    await producer.publish("application.registered", registered(number))
    await projected(number, steps(2))
    shown = await portal.request("status.get_application", query)

    assert "applicant_fin" not in early
    assert early["view"] is None
    assert hidden.body == {"outcome": "not_found"}
    assert shown.body["status"] == "assigned"
    assert [step["status"] for step in shown.body["timeline"]] == ["assigned", "registered"]
    assert shown.body["notifications"][0]["event"] == "application.forwarded"
