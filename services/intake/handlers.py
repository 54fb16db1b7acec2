"""Intake's subscribers: read the wire message, apply the rules, store, publish, answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from services.intake import domain
from services.intake.store import DuplicateSubmission, IntakeStore, OpenApplicationExists
from shared.clock import iso, stamp, utc_now
from shared.contracts import routing
from shared.contracts.catalogue import registration_text
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.messages import (
    AccountsReply,
    ActiveMeter,
    ActiveMeterWarning,
    ApplicationRegistered,
    ConfirmationRequired,
    Contact,
    Refused,
    Registered,
    SubscriberAccount,
)
from shared.messaging import Incoming, MalformedMessage, Outcome
from shared.outbox import Outbox, event_entry, with_outbox

log = structlog.get_logger("meter.intake")


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
class IntakeHandlers:
    store: IntakeStore
    outbox: Outbox
    applications: Any  # the collection the outbox flushes
    channel_users: dict[str, str]

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

    async def submit_application(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        language = domain.requested_language(body)
        channel = self.channel_users.get(incoming.user_id or "")
        if channel is None:
            error = field_error("user_id", ErrorCode.UNAUTHENTICATED, language)
            return Outcome(refused(error), {"outcome": "unauthenticated"})
        if (stored := await self._registered_before(body)) is not None:
            return stored
        decision = await self._decide(body)
        if isinstance(decision, domain.Refuse):
            codes = [error.code.value for error in decision.errors]
            # A concurrent copy of this submission may have just taken the open slot.
            if ErrorCode.OPEN_APPLICATION_EXISTS in codes and (
                stored := await self._registered_before(body)
            ):
                return stored
            return Outcome(refused(*decision.errors), {"outcome": "refused", "codes": codes})
        if isinstance(decision, domain.NeedsConfirmation):
            warning = ActiveMeterWarning(
                message=domain.active_meter_warning_text(decision.language),
                active_meters=[ActiveMeter(**meter) for meter in decision.active_meters],
            )
            return Outcome(ConfirmationRequired(warning=warning), {"outcome": "confirmation"})
        return await self._register(decision, channel, incoming)

    async def _registered_before(self, body: dict[str, Any]) -> Outcome | None:
        """The stored reply when this ``submission_id`` was registered already."""
        submission_id = body.get("submission_id")
        if not isinstance(submission_id, str) or not submission_id.strip():
            return None
        stored = await self.store.registration_for(submission_id.strip())
        if stored is None:
            return None
        structlog.contextvars.bind_contextvars(application_number=stored["application_number"])
        return Outcome(stored, {"outcome": "registered", "duplicate": True})

    async def _decide(self, body: dict[str, Any]) -> domain.Decision:
        code, reason = body.get("subscriber_code"), body.get("reason_code")
        account = None
        if isinstance(code, str) and code.strip():
            account = await self.store.account(code.strip())
        open_number = None
        if account is not None and isinstance(reason, str):
            open_number = await self.store.open_application(domain.open_key(account["_id"], reason))
        return domain.decide(body, account, open_number)

    async def _register(self, decision: domain.Accept, channel: str, incoming: Incoming) -> Outcome:
        submission = decision.submission
        now = utc_now()
        number = domain.application_number(
            domain.registration_year(now),
            await self.store.next_number(domain.registration_year(now)),
        )
        structlog.contextvars.bind_contextvars(application_number=number)
        reply = Registered(
            application_number=number, message=registration_text(number, submission.language)
        )
        event = ApplicationRegistered(
            application_number=number,
            occurred_at=iso(now),
            sequence=1,
            subscriber_code=submission.subscriber_code,
            applicant_fin=submission.applicant_fin,
            channel=channel,
            reason_code=submission.reason_code.value,
            language=submission.language,
            district_code=decision.district_code,
            additional_meter=decision.additional_meter,
            contact=Contact(phone=submission.phone, email=submission.email),
            notes=submission.notes,
        )
        document = with_outbox(
            {
                "_id": number,
                "submission_id": submission.submission_id,
                "open_key": submission.open_key,
                "status": "open",
                "applicant_fin": submission.applicant_fin,
                "subscriber_code": submission.subscriber_code,
                "reason_code": submission.reason_code.value,
                "channel": channel,
                "registered_at": stamp(now),
                "reply": reply.model_dump(mode="json"),
                "version": 1,
            },
            [event_entry(routing.APPLICATION_REGISTERED, event, incoming.correlation_id)],
        )
        try:
            await self.store.insert_application(document)
        except DuplicateSubmission:
            stored = await self.store.registration_for(submission.submission_id)
            return Outcome(stored, {"outcome": "registered", "duplicate": True})
        except OpenApplicationExists:
            holder = await self.store.open_application(submission.open_key) or "?"
            error = field_error(
                "subscriber_code",
                ErrorCode.OPEN_APPLICATION_EXISTS,
                submission.language,
                number=holder,
            )
            return Outcome(refused(error), {"outcome": "refused", "codes": [error.code.value]})
        await self._publish_now(document)
        return Outcome(reply, {"outcome": "registered", "channel": channel})

    async def _publish_now(self, document: dict[str, Any]) -> None:
        try:
            await self.outbox.flush(self.applications, document)
        except Exception as exc:  # stored already: the relay publishes it later
            log.warning("event left to the outbox relay", error=f"{type(exc).__name__}: {exc}")

    async def application_closed(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        number = body.get("application_number")
        if not isinstance(number, str) or not number:
            raise MalformedMessage("application_number is missing or not a string")
        structlog.contextvars.bind_contextvars(application_number=number)
        status = (
            "completed" if incoming.routing_key == routing.APPLICATION_COMPLETED else "rejected"
        )
        closed = await self.store.close_application(number, status, stamp())
        return Outcome(None, {"outcome": "closed" if closed else "already_closed"})
