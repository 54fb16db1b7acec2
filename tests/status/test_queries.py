"""Badly shaped queries are refused with codes; unreadable messages are answered and parked."""

from __future__ import annotations

from typing import Any

import pytest

from meterctl import dlq
from tests.status.events import EventPublisher, registered
from tests.support.amqp import Portal

pytestmark = pytest.mark.broker


async def test_a_query_with_missing_wrong_and_unknown_fields_is_refused_with_each_code(
    portal: Portal,
) -> None:
    reply = await portal.request("status.get_application", {"applicant_fin": 7, "page": 2})

    assert reply.outcome == "refused"
    assert sorted((e["field"], e["code"]) for e in reply.body["errors"]) == [
        ("applicant_fin", "invalid_type"),
        ("application_number", "required"),
        ("page", "unknown_field"),
    ]
    assert all(error["message"] for error in reply.body["errors"])


async def test_a_list_without_an_applicant_is_refused(portal: Portal) -> None:
    reply = await portal.request("status.list_applications", {"applicant_fin": "  "})

    assert reply.outcome == "refused"
    assert reply.codes() == ["required"]


async def test_an_unreadable_query_is_answered_and_parked_with_its_error(
    portal: Portal, rabbitmq_url: str
) -> None:
    reply = await portal.request("status.get_application", b"{not json")

    assert reply.outcome == "refused"
    assert reply.codes() == ["malformed_message"]
    [parked] = await dlq.peek(rabbitmq_url, "status.get_application", 5)
    assert parked["error"].startswith("malformed_message: body is not JSON")


async def test_an_unreadable_event_is_parked_and_the_next_one_still_projected(
    producer: EventPublisher, rabbitmq_url: str, projected: Any
) -> None:
    await producer.publish("application.forwarded", {"application_number": "SQ-2026-000301"})
    await producer.publish("application.registered", registered("SQ-2026-000302"))

    await projected("SQ-2026-000302", lambda document: document is not None)
    [parked] = await dlq.peek(rabbitmq_url, "status.application_events", 5)
    assert "not a valid ApplicationForwarded" in parked["error"]
    assert "sequence" in parked["error"]


async def test_an_event_this_service_does_not_use_is_acknowledged_and_ignored(
    producer: EventPublisher, rabbitmq_url: str, projected: Any, applications: Any
) -> None:
    await producer.publish("application.archived", {"application_number": "SQ-2026-000303"})
    await producer.publish("application.registered", registered("SQ-2026-000304"))

    await projected("SQ-2026-000304", lambda document: document is not None)
    assert await applications.find_one({"_id": "SQ-2026-000303"}) is None
    assert await dlq.peek(rabbitmq_url, "status.application_events", 5) == []
