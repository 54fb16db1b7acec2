"""The status service's subscribers: project events, answer the citizen's status queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from services.status import facts
from services.status.facts import normalize_fin
from services.status.store import StatusStore
from services.status.views import NotFound, is_application_number
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.messages import Refused
from shared.messaging import Incoming, MalformedMessage, Outcome

APPLICATION_QUERY = ("applicant_fin", "application_number")
LIST_QUERY = ("applicant_fin",)


def malformed_reply(incoming: Incoming, error: str) -> Refused:
    return Refused(errors=[field_error("body", ErrorCode.MALFORMED_MESSAGE, "az", detail=error)])


def shape_errors(body: dict[str, Any], fields: tuple[str, ...]) -> list[FieldError]:
    """Every field required and a non-blank string; nothing else allowed."""
    errors = [
        field_error(name, ErrorCode.UNKNOWN_FIELD, "az") for name in body if name not in fields
    ]
    for name in fields:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            continue
        if value is None or isinstance(value, str):
            errors.append(field_error(name, ErrorCode.REQUIRED, "az"))
        else:
            errors.append(field_error(name, ErrorCode.INVALID_TYPE, "az", expected="string"))
    return errors


def refusal(errors: list[FieldError]) -> Outcome:
    codes = [error.code.value for error in errors]
    return Outcome(Refused(errors=errors), {"outcome": "refused", "codes": codes})


@dataclass
class StatusHandlers:
    store: StatusStore

    async def application_event(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        try:
            fact = facts.fact_from(incoming.routing_key, body)
        except facts.UnreadableEvent as exc:
            raise MalformedMessage(str(exc)) from exc
        if fact is None:
            return Outcome(None, {"outcome": "ignored", "event_type": incoming.routing_key})
        number = fact["application_number"]
        structlog.contextvars.bind_contextvars(application_number=number)
        changed = await self.store.record(number, [fact])
        outcome = "projected" if changed else "duplicate"
        return Outcome(None, {"outcome": outcome, "event_type": incoming.routing_key})

    async def get_application(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        if errors := shape_errors(body, APPLICATION_QUERY):
            return refusal(errors)
        number = body["application_number"].strip()
        structlog.contextvars.bind_contextvars(application_number=number)
        view = None
        if is_application_number(number):
            view = await self.store.own_application(normalize_fin(body["applicant_fin"]), number)
        if view is None:
            return Outcome(NotFound(), {"outcome": "not_found"})
        return Outcome(view, {"outcome": "answered", "status": view["status"]})

    async def list_applications(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        if errors := shape_errors(body, LIST_QUERY):
            return refusal(errors)
        views = await self.store.own_applications(normalize_fin(body["applicant_fin"]))
        return Outcome({"applications": views}, {"outcome": "answered", "count": len(views)})
