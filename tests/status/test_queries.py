"""Unreadable messages are answered and parked; events of no known kind are acknowledged.

The refusals of badly shaped queries are tested in-process (``test_query_rules``).
"""

from __future__ import annotations

from typing import Any

import pytest

from meterctl import dlq
from tests.status.events import EventPublisher, registered
from tests.support.amqp import Portal

pytestmark = pytest.mark.broker


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
