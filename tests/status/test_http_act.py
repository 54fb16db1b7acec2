"""``GET /v1/applications/{number}/act``: the citizen's copy of the installation act as a
PDF, in process over the in-memory store; the same checks as the other reads first."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import httpx
import pypdf
import pytest

from services.status.adapters.http import create_http_app
from shared.contracts.commands import Act
from shared.documents import ActCopy, render_act
from tests.status.conftest import API_KEY
from tests.status.events import ACT, ADDRESS, FIN, journey, registered
from tests.status.inprocess import LocalStatus

DONE, OPEN, THEIRS = "SQ-2026-000411", "SQ-2026-000412", "SQ-2026-000413"
AUTH = {"Authorization": f"Bearer {API_KEY}", "X-Applicant-Fin": FIN}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    local = LocalStatus()
    for key, body in [
        *journey(DONE),
        *journey(OPEN)[:3],
        *journey(THEIRS, fin="7XYZW99"),
    ]:
        await local.publish(key, body)
    app = create_http_app(local.store, frozenset({API_KEY}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://status") as http:
        yield http


async def test_the_owner_gets_the_act_as_a_pdf_attachment(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/applications/{DONE}/act", headers=AUTH)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="akt-AKT-2026-0042.pdf"'
    text = "".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages
    )
    for shown in ("AKT-2026-0042", "WM-778812", DONE, "1000001", "Əli Məmmədov", "Nəsimi"):
        assert shown in text


async def test_the_pdf_is_the_same_file_as_the_notifiers_for_the_same_facts(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/v1/applications/{DONE}/act", headers=AUTH)

    # What the notifier renders from application.registered and application.completed.
    expected = render_act(ActCopy(DONE, "1000001", ADDRESS, Act.model_validate(ACT)))
    assert response.content == expected


async def test_a_registration_without_an_address_still_gives_the_act() -> None:
    local = LocalStatus()
    events = journey(DONE)
    body = {key: value for key, value in registered(DONE).items() if key != "address"}
    for key, sent in [("application.registered", body), *events[1:]]:
        await local.publish(key, sent)
    app = create_http_app(local.store, frozenset({API_KEY}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://status"
    ) as http:
        response = await http.get(f"/v1/applications/{DONE}/act", headers=AUTH)

    assert response.status_code == 200
    assert response.content == render_act(ActCopy(DONE, "1000001", "", Act.model_validate(ACT)))


@pytest.mark.parametrize("number", [THEIRS, OPEN, "SQ-2026-999999"])
async def test_someone_elses_an_unknown_or_an_unfinished_application_gets_404(
    client: httpx.AsyncClient, number: str
) -> None:
    response = await client.get(f"/v1/applications/{number}/act", headers=AUTH)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("headers", "path", "status", "code"),
    [
        ({"X-Applicant-Fin": FIN}, f"/v1/applications/{DONE}/act", 401, "unauthorized"),
        (
            {**AUTH, "Authorization": "Bearer wrong"},
            "/v1/applications/bad/act",
            401,
            "unauthorized",
        ),
        (
            {"Authorization": AUTH["Authorization"]},
            f"/v1/applications/{DONE}/act",
            400,
            "applicant_required",
        ),
        (AUTH, "/v1/applications/SQ-26-1/act", 422, "invalid_application_number"),
    ],
)
async def test_the_key_the_citizen_and_the_number_are_checked_as_for_the_other_reads(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, status: int, code: str
) -> None:
    response = await client.get(path, headers=headers)

    assert response.status_code == status
    assert response.json()["code"] == code


async def test_the_openapi_document_declares_the_pdf_and_every_answer(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    operation = spec["paths"]["/v1/applications/{number}/act"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "404", "422"}
    assert set(operation["responses"]["200"]["content"]) == {"application/pdf"}
    assert operation["responses"]["200"]["content"]["application/pdf"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert "Content-Disposition" in operation["responses"]["200"]["headers"]
    assert operation["security"] == [{"HTTPBearer": []}]
