"""Schemathesis fuzzes the HTTP API against its own OpenAPI document: no server error, and
every answer is one the document declares, in the declared shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from services.status import domain
from services.status.facts import fact_from
from services.status.http import create_http_app
from tests.status.conftest import API_KEY
from tests.status.events import FIN, journey

NUMBER = "SQ-2026-000001"


class ProjectedViews:
    """A reader over views folded by the real projection (the API's own loop is not ours)."""

    def __init__(self) -> None:
        facts = [fact_from(key, body) for key, body in journey(NUMBER)]
        received = domain.merged({}, [fact for fact in facts if fact is not None])
        assert received is not None
        self.document = domain.document(NUMBER, received)

    async def own_application(self, applicant_fin: str, number: str) -> dict[str, Any] | None:
        mine = applicant_fin == FIN and number == NUMBER
        return dict(self.document["view"]) if mine else None

    async def own_applications(self, applicant_fin: str) -> list[dict[str, Any]]:
        mine = applicant_fin == FIN
        return [domain.summary(self.document["view"])] if mine else []


schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_http_app(ProjectedViews(), frozenset({API_KEY}))
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
