"""The status reads over HTTP (docs/integration.md), documented by their OpenAPI document.

``GET /v1/applications/{number}``, ``GET /v1/applications`` and the copy of the
installation act as a PDF, ``GET /v1/applications/{number}/act`` (docs/integration.md):
the portal authenticates with a bearer key from ``STATUS_API_KEYS``, the citizen is named
by ``X-Applicant-Fin``. Checked in this order: 401 (key), 400 (citizen), 422 (number),
then 404 or 200.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from swagger_ui_bundle import swagger_ui_path

from services.status.store import StatusReader
from shared.contracts.commands import NUMBER_PATTERN
from shared.contracts.fields import normalize_fin
from shared.contracts.replies import ApplicationList, ApplicationView
from shared.documents import render_act

PDF = "application/pdf"
NUMBER_HINT = "the application number must look like SQ-2026-000001 (SQ-<4 digits>-<6 digits>)"


class Problem(BaseModel):
    """Why an HTTP request was not answered with a view."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _problem(status: int, code: str, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(Problem(code=code, message=message).model_dump(), status, headers)


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "X-Applicant-Fin is missing or blank",
        401: "the bearer key is missing or unknown",
        404: "no such application of this citizen (or, for its act, none drawn up yet)",
        422: "the number is not SQ-<4 digits>-<6 digits>",
    }
    return {status: {"model": Problem, "description": described[status]} for status in statuses}


BEARER = HTTPBearer(auto_error=False, description="a portal's key from STATUS_API_KEYS")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]
FinHeader = Annotated[
    str,
    Header(
        description="the citizen's FIN, as the portal authenticated it",
        examples=["5ABCD12"],
        pattern=r"\S",
    ),
]
Number = Annotated[str, Path(pattern=NUMBER_PATTERN, examples=["SQ-2026-000001"])]


class PortalKeys:
    """The dependency that admits a request only with one of the portals' bearer keys."""

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = [key.encode() for key in keys]

    def __call__(self, credentials: Credentials) -> None:
        given = credentials.credentials.encode() if credentials else b""
        # Compare with every key, in constant time, so timing tells nothing.
        matches = sum(hmac.compare_digest(given, key) for key in self.keys)
        if not given or not matches:
            raise ApiError(401, "unauthorized", "a valid bearer key is required")


def applicant(x_applicant_fin: FinHeader) -> str:
    return normalize_fin(x_applicant_fin)


ApplicantFin = Annotated[str, Depends(applicant)]


def create_http_app(reader: StatusReader, api_keys: frozenset[str]) -> FastAPI:
    app = FastAPI(
        title="Water-meter applications: status",
        version="1.0.0",
        description="The citizen's applications and their status, as the portals show them.",
        docs_url=None,
        redoc_url=None,
    )
    portal = PortalKeys(api_keys)
    # The interactive docs load Swagger UI from the installed package, never from a CDN.
    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-assets")

    @app.get("/docs", include_in_schema=False)
    async def interactive_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Water-meter applications: status API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _problem(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        if any(error["loc"][:1] == ("header",) for error in exc.errors()):
            return _problem(400, "applicant_required", "the X-Applicant-Fin header is required")
        return _problem(422, "invalid_application_number", NUMBER_HINT)

    @app.get(
        "/v1/applications/{number}",
        response_model=ApplicationView,
        responses=_errors(400, 401, 404, 422),
        dependencies=[Depends(portal)],
        summary="One of the citizen's applications, with its timeline",
    )
    async def get_application(number: Number, applicant_fin: ApplicantFin) -> Any:
        view = await reader.own_application(applicant_fin, number)
        if view is None:
            raise ApiError(404, "not_found", f"no application {number} of this citizen")
        return view

    @app.get(
        "/v1/applications",
        response_model=ApplicationList,
        responses=_errors(400, 401),
        dependencies=[Depends(portal)],
        summary="The citizen's applications, newest first, without timelines",
    )
    async def list_applications(applicant_fin: ApplicantFin) -> Any:
        return ApplicationList(applications=await reader.own_applications(applicant_fin))

    @app.get(
        "/v1/applications/{number}/act",
        response_class=Response,
        responses={
            200: {
                "description": "the installation act as a PDF, in Azerbaijani: "
                "`akt-<act_number>.pdf`, the same file as the completion e-mail's attachment",
                "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
                "headers": {
                    "Content-Disposition": {
                        "description": 'attachment; filename="akt-<act_number>.pdf"',
                        "schema": {"type": "string"},
                    }
                },
            },
            **_errors(400, 401, 404, 422),
        },
        dependencies=[Depends(portal)],
        summary="The citizen's copy of the installation act, once the meter is installed",
    )
    async def get_act(number: Number, applicant_fin: ApplicantFin) -> Response:
        copy = await reader.own_act(applicant_fin, number)
        if copy is None:
            raise ApiError(404, "not_found", f"no act of an application {number} of this citizen")
        # Rendering takes a few milliseconds of CPU: off the event loop.
        pdf = await asyncio.to_thread(render_act, copy)
        disposition = f'attachment; filename="{copy.filename}"'
        return Response(pdf, media_type=PDF, headers={"Content-Disposition": disposition})

    return app
