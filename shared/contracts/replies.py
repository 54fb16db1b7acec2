"""Replies to commands and queries (docs/reference/commands.md), as the services send them.

A reply carries the request's ``correlation_id`` and the AMQP ``type`` of the request's
message name plus ``Reply``. Fields that are null stay in the body.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.catalogue import Status
from shared.contracts.commands import NUMBER_PATTERN, Act
from shared.contracts.errors import FieldError


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Refused(Reply):
    """Every broken rule at once: the field, a stable code, a message."""

    outcome: Literal["refused"] = "refused"
    errors: list[FieldError]


# --- intake -------------------------------------------------------------------------------


class ReasonItem(Reply):
    code: str
    label: str


class ReasonsReply(Reply):
    reasons: list[ReasonItem]


class ActiveMeter(Reply):
    serial: str
    installed_on: str | None = None


class SubscriberAccount(Reply):
    subscriber_code: str
    address: str
    active_meters: list[ActiveMeter]
    open_applications: list[str] = Field(description="numbers of open applications, newest first")


class AccountsReply(Reply):
    accounts: list[SubscriberAccount]


class Registered(Reply):
    outcome: Literal["registered"] = "registered"
    application_number: str
    message: str


class ActiveMeterWarning(Reply):
    code: Literal["active_meter_exists"] = "active_meter_exists"
    message: str
    active_meters: list[ActiveMeter]


class ConfirmationRequired(Reply):
    outcome: Literal["confirmation_required"] = "confirmation_required"
    warning: ActiveMeterWarning


# --- dispatcher ---------------------------------------------------------------------------


class Accepted(Reply):
    outcome: Literal["accepted"] = "accepted"


class Withdrawn(Reply):
    outcome: Literal["withdrawn"] = "withdrawn"


class StockAccepted(Reply):
    outcome: Literal["accepted"] = "accepted"
    in_stock: int = Field(description="free meters in the district (reserved ones not counted)")


# --- status: what the citizen sees --------------------------------------------------------


class NotFound(Reply):
    outcome: Literal["not_found"] = "not_found"


class TimelineStep(Reply):
    status: Status
    at: str = Field(description="ISO 8601 with the Asia/Baku offset")
    label: str = Field(description="the status in Azerbaijani")
    note: str | None = None


class Rejection(Reply):
    reason_code: str
    message: str = Field(description="the reason in words, in the application's language")


class NotificationOutcome(Reply):
    event: str = Field(description="the routing key notified, e.g. application.registered")
    channel: Literal["email", "sms"]
    state: Literal["delivered", "failed"]


class ApplicationSummary(Reply):
    """An application as listed: everything but the timeline."""

    application_number: str = Field(pattern=NUMBER_PATTERN)
    status: Status
    status_label: str = Field(description="the status in Azerbaijani")
    subscriber_code: str
    reason_code: str
    channel: str
    submitted_at: str
    updated_at: str
    due_by: str | None = Field(
        default=None,
        description="the date it is due (YYYY-MM-DD, Asia/Baku): the registration date plus "
        "the service level's working days",
    )
    overdue: bool = Field(default=False, description="open and past due_by")
    act: Act | None = Field(default=None, description="present when completed")
    rejection: Rejection | None = Field(default=None, description="present when rejected")
    notifications: list[NotificationOutcome]


class ApplicationView(ApplicationSummary):
    timeline: list[TimelineStep] = Field(description="newest first")


class ApplicationList(Reply):
    applications: list[ApplicationSummary] = Field(description="newest first")
