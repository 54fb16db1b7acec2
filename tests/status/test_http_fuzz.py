"""Schemathesis fuzzes the HTTP API against its own OpenAPI document: no server error, and
every answer is one the document declares, in the declared shape."""

from __future__ import annotations

import asyncio
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from services.status.adapters.http import create_http_app
from tests.status.conftest import API_KEY
from tests.status.events import journey
from tests.status.fakes import MemoryStatusStore
from tests.status.inprocess import LocalStatus

NUMBER = "SQ-2026-000001"


def projected_views() -> MemoryStatusStore:
    """A reader over views folded by the real projection (the API's own loop is not ours)."""
    local = LocalStatus()

    async def publish() -> None:
        for key, body in journey(NUMBER):
            await local.publish(key, body)

    asyncio.run(publish())
    assert local.store.documents[NUMBER]["view"] is not None
    return local.store


schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_http_app(projected_views(), frozenset({API_KEY}))
)


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_its_document_says(case: Any) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {API_KEY}"})
