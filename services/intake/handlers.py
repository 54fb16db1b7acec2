"""Intake's submissions: read the wire message, apply the rules, store, publish, answer.

The read-only queries (reasons, accounts) are ``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from services.intake import domain
from services.intake.queries import refused
from services.intake.store import DuplicateSubmission, IntakeStore, OpenApplicationExists
from shared.clock import iso, stamp, utc_now
from shared.contracts import routing
from shared.contracts.catalogue import registration_text
from shared.contracts.errors import ErrorCode, field_error
from shared.contracts.messages import (
    ActiveMeter,
    ActiveMeterWarning,
    ApplicationRegistered,
    ConfirmationRequired,
    Contact,
    Registered,
)
from shared.messaging import Incoming, MalformedMessage, Outcome
from shared.outbox import Outbox, event_entry, with_outbox

log = structlog.get_logger("meter.intake")


@dataclass
class IntakeHandlers:
    store: IntakeStore
    outbox: Outbox
    applications: Any  # the collection the outbox flushes
    channel_users: dict[str, str]

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
