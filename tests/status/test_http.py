"""The HTTP reads: keys, the citizen header, number checks, ownership, in process over the
in-memory store; and the API as the running service serves it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.status.adapters.http import create_http_app
from services.status.main import create_app
from services.status.settings import StatusSettings
from tests.status.conftest import API_KEY, steps
from tests.status.events import FIN, EventPublisher, journey, registered
from tests.status.fakes import MemoryStatusStore
from tests.status.inprocess import LocalStatus
from tests.support.infra import free_port

MINE, THEIRS = "SQ-2026-000401", "SQ-2026-000402"
AUTH = {"Authorization": f"Bearer {API_KEY}", "X-Applicant-Fin": FIN}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    store = MemoryStatusStore()
    producer = LocalStatus(store)
    for key, body in [*journey(MINE), ("application.registered", registered(THEIRS, "7XYZW99"))]:
        await producer.publish(key, body)
    app = create_http_app(store, frozenset({API_KEY, "another-portal"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://status") as http:
        yield http


async def test_the_citizens_application_is_answered_with_its_view(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/applications/{MINE}", headers=AUTH)

    assert response.status_code == 200
    view = response.json()
    assert view["status"] == "completed"
    assert view["status_label"] == "İcra edildi"
    assert len(view["timeline"]) == 4
    assert view["act"]["act_number"] == "AKT-2026-0042"


async def test_the_list_has_only_the_citizens_applications_without_timelines(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/applications", headers={**AUTH, "X-Applicant-Fin": "5abcd12"})

    assert response.status_code == 200
    [view] = response.json()["applications"]
    assert view["application_number"] == MINE
    assert "timeline" not in view


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", f"Basic {API_KEY}", "Bearer ", API_KEY]
)
async def test_a_missing_or_unknown_key_gets_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"X-Applicant-Fin": FIN}
    if authorization is not None:
        headers["Authorization"] = authorization

    one = await client.get(f"/v1/applications/{MINE}", headers=headers)
    listed = await client.get("/v1/applications", headers=headers)

    assert (one.status_code, listed.status_code) == (401, 401)
    assert one.json()["code"] == "unauthorized"
    assert one.headers["WWW-Authenticate"] == "Bearer"


async def test_any_configured_key_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {**AUTH, "Authorization": "Bearer another-portal"}
    response = await client.get(f"/v1/applications/{MINE}", headers=headers)

    assert response.status_code == 200


async def test_a_missing_citizen_header_gets_400(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": AUTH["Authorization"]}
    one = await client.get(f"/v1/applications/{MINE}", headers=headers)
    blank = await client.get("/v1/applications", headers={**headers, "X-Applicant-Fin": " "})

    assert (one.status_code, blank.status_code) == (400, 400)
    assert one.json()["code"] == "applicant_required"


@pytest.mark.parametrize("number", ["SQ-26-1", "sq-2026-000401", "SQ-2026-0004010", "x"])
async def test_a_malformed_number_gets_422_with_a_clear_body(
    client: httpx.AsyncClient, number: str
) -> None:
    response = await client.get(f"/v1/applications/{number}", headers=AUTH)

    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid_application_number",
        "message": "the application number must look like SQ-2026-000001 "
        "(SQ-<4 digits>-<6 digits>)",
    }


async def test_a_number_with_other_scripts_digits_gets_422_not_404(
    client: httpx.AsyncClient,
) -> None:
    # Arabic-Indic digits match \d in Unicode mode; the contract's digits are ASCII only.
    response = await client.get("/v1/applications/SQ-\u0662\u0660\u0662\u0666-000401", headers=AUTH)

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_application_number"


@pytest.mark.parametrize("number", [THEIRS, "SQ-2026-999999"])
async def test_someone_elses_or_an_unknown_number_gets_404(
    client: httpx.AsyncClient, number: str
) -> None:
    response = await client.get(f"/v1/applications/{number}", headers=AUTH)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_the_key_is_checked_before_the_citizen_and_the_number(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/v1/applications/bad")

    assert response.status_code == 401


async def test_the_openapi_document_declares_the_bearer_key_and_every_answer(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    operation = spec["paths"]["/v1/applications/{number}"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "404", "422"}
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    [number] = [p for p in operation["parameters"] if p["name"] == "number"]
    assert number["schema"]["pattern"] == r"^SQ-[0-9]{4}-[0-9]{6}$"
    view = spec["components"]["schemas"]["ApplicationView"]
    assert {"timeline", "status_label", "notifications", "act", "rejection"} <= set(
        view["properties"]
    )


async def get_when_listening(http: httpx.AsyncClient, path: str) -> httpx.Response:
    """The server starts right after the broker: ask until it listens."""
    for _ in range(100):
        try:
            return await http.get(path, headers=AUTH)
        except httpx.ConnectError:
            await asyncio.sleep(0.1)
    raise AssertionError("the HTTP server never listened")


async def test_the_service_serves_the_api_on_its_port(
    status_settings: StatusSettings, status_db: Any, run_app: Any
) -> None:
    settings = status_settings.model_copy(update={"http_port": free_port()})
    async with run_app(create_app(settings, configure_logging=False)):
        url = f"http://127.0.0.1:{settings.http_port}"
        async with httpx.AsyncClient(base_url=url) as http:
            response = await get_when_listening(http, "/v1/applications")

    assert response.status_code == 200
    assert response.json() == {"applications": []}


async def test_the_running_service_serves_what_it_projected_from_the_broker(
    status_settings: StatusSettings, projected: Any, run_app: Any, rabbitmq_url: str
) -> None:
    number = "SQ-2026-000403"
    settings = status_settings.model_copy(update={"http_port": free_port()})
    async with run_app(create_app(settings, configure_logging=False)):
        async with EventPublisher(rabbitmq_url) as producer:
            await producer.publish("application.registered", registered(number))
        await projected(number, steps(1))
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}") as http:
            one = await get_when_listening(http, f"/v1/applications/{number}")
            listed = await http.get("/v1/applications", headers=AUTH)

    assert one.status_code == 200
    assert one.json()["status_label"] == "Qeydiyyata alındı"
    assert [view["application_number"] for view in listed.json()["applications"]] == [number]


async def test_the_interactive_docs_load_every_asset_from_the_service_itself() -> None:
    app = create_http_app(MemoryStatusStore(), frozenset({API_KEY}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://status") as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
        assert assets, page.text
        for asset in assets:
            assert asset.startswith("/"), f"{asset} is not served by the service"
            assert (await client.get(asset)).status_code == 200, asset
        assert "cdn" not in page.text.lower()
