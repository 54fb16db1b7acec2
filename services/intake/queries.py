"""Intake's read-only queries: the reason catalogue and the citizen's subscriber accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.intake import domain
from services.intake.store import IntakeStore
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.messages import AccountsReply, ActiveMeter, Refused, SubscriberAccount
from shared.messaging import Incoming, Outcome


def refused(*errors: FieldError) -> Refused:
    return Refused(errors=list(errors))


def malformed_reply(incoming: Incoming, error: str) -> Refused:
    return refused(field_error("body", ErrorCode.MALFORMED_MESSAGE, "az", detail=error))


def _only_fields(body: dict[str, Any], allowed: dict[str, bool], language: str) -> list[FieldError]:
    """Shape checks of the small queries: unknown fields, required and string fields."""
    errors = [
        field_error(name, ErrorCode.UNKNOWN_FIELD, language) for name in body if name not in allowed
    ]
    for name, required in allowed.items():
        value = body.get(name)
        if value is None:
            if required:
                errors.append(field_error(name, ErrorCode.REQUIRED, language))
        elif not isinstance(value, str):
            errors.append(field_error(name, ErrorCode.INVALID_TYPE, language, expected="string"))
        elif name == "language" and value not in ("az", "en", "ru"):
            errors.append(field_error(name, ErrorCode.INVALID_LANGUAGE, language))
        elif required and not value.strip():
            errors.append(field_error(name, ErrorCode.REQUIRED, language))
    return errors


def account_view(account: dict[str, Any], open_numbers: list[str]) -> SubscriberAccount:
    return SubscriberAccount(
        subscriber_code=account["_id"],
        address=account.get("address", ""),
        active_meters=[ActiveMeter(**meter) for meter in account.get("active_meters") or []],
        open_applications=open_numbers,
    )


@dataclass
class IntakeQueries:
    store: IntakeStore

    async def list_reasons(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        language = domain.requested_language(body)
        errors = _only_fields(body, {"language": False}, language)
        if errors:
            return Outcome(refused(*errors), {"outcome": "refused"})
        return Outcome({"reasons": domain.reason_labels(language)}, {"outcome": "answered"})

    async def list_subscriber_accounts(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        errors = _only_fields(body, {"applicant_fin": True}, "az")
        if errors:
            return Outcome(refused(*errors), {"outcome": "refused"})
        accounts = await self.store.accounts_of(domain.normalize_fin(body["applicant_fin"]))
        numbers = await self.store.open_numbers(account["_id"] for account in accounts)
        reply = AccountsReply(
            accounts=[account_view(account, numbers[account["_id"]]) for account in accounts]
        )
        return Outcome(reply, {"outcome": "answered", "accounts": len(accounts)})

    async def check_subscriber(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        errors = _only_fields(body, {"applicant_fin": True, "subscriber_code": True}, "az")
        if errors:
            return Outcome(refused(*errors), {"outcome": "refused"})
        account = await self.store.account(body["subscriber_code"].strip())
        if account is None or account["applicant_fin"] != domain.normalize_fin(
            body["applicant_fin"]
        ):
            error = field_error("subscriber_code", ErrorCode.SUBSCRIBER_NOT_FOUND, "az")
            return Outcome(refused(error), {"outcome": "refused"})
        numbers = await self.store.open_numbers([account["_id"]])
        return Outcome(account_view(account, numbers[account["_id"]]), {"outcome": "answered"})
