"""The handlers alone, over a fake store: what they answer and what they log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from services.status.facts import Fact
from services.status.handlers import StatusHandlers
from services.status.views import NotFound
from shared.messaging import Incoming, MalformedMessage
from tests.status.events import registered

NUMBER = "SQ-2026-000701"


class RecordingStore:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, list[Fact]]] = []

    async def ensure_indexes(self) -> None:
        return None

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        self.recorded.append((number, list(facts)))
        return len(self.recorded) == 1

    async def own_application(self, applicant_fin: str, number: str) -> dict[str, Any] | None:
        raise AssertionError("a malformed number must not reach the store")

    async def own_applications(self, applicant_fin: str) -> list[dict[str, Any]]:
        return []


def event(key: str, body: Any) -> Incoming:
    return Incoming(body=json.dumps(body).encode(), routing_key=key)


async def test_an_event_is_recorded_and_its_copy_logged_as_a_duplicate() -> None:
    store = RecordingStore()
    handlers = StatusHandlers(store)

    first = await handlers.application_event(event("application.registered", registered(NUMBER)))
    again = await handlers.application_event(event("application.registered", registered(NUMBER)))

    assert (first.log["outcome"], again.log["outcome"]) == ("projected", "duplicate")
    assert store.recorded[0][0] == NUMBER
    # structlog's own positional argument is "event": a log field of that name breaks it.
    assert "event" not in first.log
    assert first.reply is None


async def test_a_body_that_is_not_the_named_event_is_malformed() -> None:
    handlers = StatusHandlers(RecordingStore())

    with pytest.raises(MalformedMessage, match="sequence"):
        await handlers.application_event(event("application.assigned", {"x": 1}))


async def test_a_number_that_cannot_exist_is_not_found_without_a_lookup() -> None:
    handlers = StatusHandlers(RecordingStore())

    outcome = await handlers.get_application(
        Incoming(
            body=json.dumps({"applicant_fin": "5ABCD12", "application_number": "42"}).encode(),
            routing_key="status.get_application",
        )
    )

    assert isinstance(outcome.reply, NotFound)
    assert outcome.log == {"outcome": "not_found"}
