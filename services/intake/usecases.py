"""Intake's use cases: answer the portal's queries, register submissions, close applications.

Each takes a typed command or event and returns the ``Outcome`` (reply and log fields);
storage is the ``IntakeStore`` port, time comes from ``clock``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import assert_never

import structlog

from services.intake import domain
from services.intake.store import DuplicateSubmission, IntakeStore, OpenApplicationExists
from shared.clock import iso, stamp, utc_now
from shared.contracts.catalogue import registration_text
from shared.contracts.commands import (
    CheckSubscriber,
    ListReasons,
    ListSubscriberAccounts,
    SubmitApplication,
)
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.events import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationOverdue,
    ApplicationRegistered,
    ApplicationRejected,
    ApplicationWithdrawn,
    Contact,
    Event,
    NotificationDelivered,
    NotificationFailed,
)
from shared.contracts.reading import Refusal
from shared.contracts.replies import (
    AccountsReply,
    ActiveMeterWarning,
    ConfirmationRequired,
    ReasonsReply,
    Refused,
    Registered,
)
from shared.delivery import Outcome

log = structlog.get_logger("meter.intake")


def refused(*errors: FieldError) -> Outcome:
    codes = [error.code.value for error in errors]
    return Outcome(Refused(errors=list(errors)), {"outcome": "refused", "codes": codes})


@dataclass
class Intake:
    store: IntakeStore
    channel_users: Mapping[str, str]
    clock: Callable[[], datetime] = utc_now
    service_level: domain.ServiceLevel = field(default_factory=domain.ServiceLevel)
    # The sequence this process last warned at, per year (``domain.numbers_warning``).
    _numbers_warned: dict[int, int] = field(default_factory=dict, init=False)

    async def numbers_left(self) -> int:
        """This year's application numbers still free (Baku time): the gauge that warns
        before they are used up."""
        year = domain.registration_year(self.clock())
        return domain.numbers_left(await self.store.numbers_taken(year))

    async def list_reasons(self, query: ListReasons) -> Outcome:
        reply = ReasonsReply(reasons=domain.reason_labels(query.language))
        return Outcome(reply, {"outcome": "answered"})

    async def list_accounts(self, query: ListSubscriberAccounts) -> Outcome:
        accounts = await self.store.accounts_of(query.applicant_fin)
        numbers = await self.store.open_numbers(account.subscriber_code for account in accounts)
        reply = AccountsReply(
            accounts=[account.view(numbers[account.subscriber_code]) for account in accounts]
        )
        return Outcome(reply, {"outcome": "answered", "accounts": len(accounts)})

    async def check_subscriber(self, query: CheckSubscriber) -> Outcome:
        account = await self.store.account(query.subscriber_code)
        if account is None or not domain.owns(account, query.applicant_fin):
            return refused(field_error("subscriber_code", ErrorCode.SUBSCRIBER_NOT_FOUND, "az"))
        numbers = await self.store.open_numbers([account.subscriber_code])
        return Outcome(account.view(numbers[account.subscriber_code]), {"outcome": "answered"})

    async def submit(
        self, parsed: SubmitApplication | Refusal, sender: str | None, correlation_id: str | None
    ) -> Outcome:
        """Register a submission once, or say exactly what is wrong with it."""
        channel = self.channel_users.get(sender or "")
        if channel is None:
            return refused(field_error("user_id", ErrorCode.UNAUTHENTICATED, parsed.language))
        # A submission registered before gets its stored reply, whatever the body. It is
        # looked for only when this body would not register: one that would fails on the
        # unique submission id instead (``DuplicateSubmission``), so a new submission, the
        # common case, pays no lookup for it.
        now = self.clock()
        if isinstance(parsed, SubmitApplication):
            # A well-formed submission takes its number while its account is looked up: one
            # round trip less before the reply. One refused on its account's rules leaves
            # its number unused, a gap the contract allows.
            decided, numbered = await asyncio.gather(
                self._decide(parsed),
                self.store.next_number(domain.registration_year(now)),
                return_exceptions=True,
            )
            if isinstance(decided, BaseException):
                raise decided
            decision: domain.Decision = decided
        else:
            decision, numbered = await self._decide(parsed), None
        match decision:
            case domain.Refuse(errors=errors):
                if (stored := await self._registered_before(parsed)) is not None:
                    return stored
                return refused(*errors)
            case domain.NeedsConfirmation(active_meters=meters, language=language):
                if (stored := await self._registered_before(parsed)) is not None:
                    return stored
                warning = ActiveMeterWarning(
                    message=domain.active_meter_warning_text(language), active_meters=meters
                )
                return Outcome(ConfirmationRequired(warning=warning), {"outcome": "confirmation"})
            case domain.Accept():
                if isinstance(numbered, BaseException):
                    raise numbered
                return await self._register(decision, channel, correlation_id, now, numbered)
            case _:
                assert_never(decision)

    async def _registered_before(self, parsed: SubmitApplication | Refusal) -> Outcome | None:
        """The stored reply when this ``submission_id`` was registered already."""
        if isinstance(parsed, SubmitApplication):
            submission_id: str | None = parsed.submission_id
        else:
            submission_id = (parsed.text("submission_id") or "").strip() or None
        if submission_id is None:
            return None
        stored = await self.store.registration_for(submission_id)
        if stored is None:
            return None
        structlog.contextvars.bind_contextvars(application_number=stored.application_number)
        return Outcome(stored, {"outcome": "registered", "duplicate": True})

    async def _decide(self, parsed: SubmitApplication | Refusal) -> domain.Decision:
        """The rules, given the account named. The open application of the same code and
        reason is looked for only when the submission would not register without one: a
        submission that would is refused by the unique open key of its insert instead
        (``OpenApplicationExists``, a number used up), so a new application, the common
        case, pays no lookup for it. A refusal or a confirmation looks, so the reply names
        every broken rule, the open application first of all."""
        names = domain.subscriber_names(parsed)
        account = None if names is None else await self.store.account(names[1])
        decision = domain.decide(parsed, account, None)
        reason = (
            parsed.reason_code
            if isinstance(parsed, SubmitApplication)
            else parsed.text("reason_code")
        )
        if isinstance(decision, domain.Accept) or account is None or reason is None:
            return decision
        key = domain.open_key(account.subscriber_code, reason)
        open_number = await self.store.open_application(key)
        return decision if open_number is None else domain.decide(parsed, account, open_number)

    async def _register(
        self,
        decision: domain.Accept,
        channel: str,
        correlation_id: str | None,
        now: datetime,
        sequence: int | None,
    ) -> Outcome:
        submission = decision.submission
        year = domain.registration_year(now)
        if sequence is None:
            sequence = await self.store.next_number(year)
        number = domain.application_number(year, sequence)
        structlog.contextvars.bind_contextvars(application_number=number)
        if domain.numbers_warning(sequence, self._numbers_warned.get(year)):
            self._numbers_warned[year] = sequence
            left = domain.numbers_left(sequence)
            log.warning("the year's application numbers run low", year=year, numbers_left=left)
        reply = Registered(
            application_number=number,
            message=registration_text(number, submission.language, channel),
        )
        application = domain.Application(
            number=number,
            submission_id=submission.submission_id,
            open_key=domain.open_key(submission.subscriber_code, submission.reason_code),
            applicant_fin=submission.applicant_fin,
            subscriber_code=submission.subscriber_code,
            reason_code=submission.reason_code,
            channel=channel,
            registered_at=now,
            reply=reply,
        )
        event = ApplicationRegistered(
            application_number=number,
            occurred_at=iso(now),
            sequence=1,
            subscriber_code=submission.subscriber_code,
            applicant_fin=submission.applicant_fin,
            channel=channel,
            reason_code=submission.reason_code,
            language=submission.language,
            district_code=decision.district_code,
            additional_meter=decision.additional_meter,
            contact=Contact(phone=submission.phone, email=submission.email),
            notes=submission.notes,
            address=decision.address or None,
            due_by=self.service_level.due_by(now).isoformat(),
        )
        try:
            publish = await self.store.save(application, event, correlation_id)
        except DuplicateSubmission:
            stored = await self.store.registration_for(submission.submission_id)
            if stored is not None:  # the log names the number answered, not the one unused
                structlog.contextvars.bind_contextvars(application_number=stored.application_number)
            return Outcome(stored, {"outcome": "registered", "duplicate": True})
        except OpenApplicationExists:
            holder = await self.store.open_application(application.open_key) or "?"
            return refused(
                field_error(
                    "subscriber_code",
                    ErrorCode.OPEN_APPLICATION_EXISTS,
                    submission.language,
                    number=holder,
                )
            )
        # Stored with its event: the portal is answered now, the event's confirm awaited
        # after the reply and before the submission is acknowledged.
        return Outcome(reply, {"outcome": "registered", "channel": channel}, then=publish)

    async def follow(self, event: Event) -> Outcome:
        """Close an application when the dispatcher closes it; other events change nothing."""
        match event:
            case ApplicationCompleted():
                return await self._close(event.application_number, "completed")
            case ApplicationRejected():
                return await self._close(event.application_number, "rejected")
            case ApplicationWithdrawn():
                return await self._close(event.application_number, "withdrawn")
            case (
                ApplicationRegistered()
                | ApplicationForwarded()
                | ApplicationAssigned()
                | ApplicationOverdue()
                | NotificationDelivered()
                | NotificationFailed()
            ):
                return Outcome(None, {"outcome": "ignored", "event_type": event.routing_key})
            case _:
                assert_never(event)

    async def _close(self, number: str, status: str) -> Outcome:
        closed = await self.store.close_application(number, status, stamp(self.clock()))
        return Outcome(None, {"outcome": "closed" if closed else "already_closed"})
