"""Wire contracts of DESIGN.md sections 4 and 4b: commands, queries, replies and events.

Incoming bodies are checked field by field by each service (so every broken rule gets its
own code); these models describe the shapes and are what services emit.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.errors import FieldError


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- commands and queries ---------------------------------------------------------------


class SubmitApplication(Contract):
    submission_id: str
    applicant_fin: str
    subscriber_code: str
    reason_code: str
    phone: str
    email: str
    notes: str = ""
    additional_meter_confirmed: bool = False
    data_confirmed: bool
    language: Literal["az", "en", "ru"] = "az"


class ListReasons(Contract):
    language: Literal["az", "en", "ru"] = "az"


class ListSubscriberAccounts(Contract):
    applicant_fin: str


class CheckSubscriber(Contract):
    applicant_fin: str
    subscriber_code: str


# --- replies ----------------------------------------------------------------------------


class ReasonItem(Contract):
    code: str
    label: str


class ReasonsReply(Contract):
    reasons: list[ReasonItem]


class ActiveMeter(Contract):
    serial: str
    installed_on: str | None = None


class SubscriberAccount(Contract):
    subscriber_code: str
    address: str
    active_meters: list[ActiveMeter]
    open_applications: list[str]


class AccountsReply(Contract):
    accounts: list[SubscriberAccount]


class Refused(Contract):
    outcome: Literal["refused"] = "refused"
    errors: list[FieldError]


class Registered(Contract):
    outcome: Literal["registered"] = "registered"
    application_number: str
    message: str


class ActiveMeterWarning(Contract):
    code: Literal["active_meter_exists"] = "active_meter_exists"
    message: str
    active_meters: list[ActiveMeter]


class ConfirmationRequired(Contract):
    outcome: Literal["confirmation_required"] = "confirmation_required"
    warning: ActiveMeterWarning


# --- events -----------------------------------------------------------------------------


class Contact(Contract):
    phone: str
    email: str


class ApplicationEvent(BaseModel):
    """Every ``application.*`` event: its application, when, and its place in the order."""

    model_config = ConfigDict(extra="allow")

    application_number: str
    occurred_at: str
    sequence: int = Field(ge=1)


class ApplicationRegistered(ApplicationEvent):
    subscriber_code: str
    applicant_fin: str
    channel: str
    reason_code: str
    language: str
    district_code: str
    additional_meter: bool
    contact: Contact
    notes: str


class ApplicationForwarded(ApplicationEvent):
    district_code: str


class ApplicationAssigned(ApplicationEvent):
    work_order_id: str
    team_id: str


class ApplicationCompleted(ApplicationEvent):
    outcome: Literal["installed", "existing_meter_registered"]
    act: dict[str, Any]


class ApplicationRejected(ApplicationEvent):
    reason_code: str
    comment: str


class NotificationEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    application_number: str
    occurred_at: str
    event: str
    channel: Literal["email", "sms"]
    error: str | None = None


# --- status queries, field-team and operations commands (DESIGN.md section 4) -----------


class GetApplication(Contract):
    applicant_fin: str
    application_number: str


class ListApplications(Contract):
    applicant_fin: str


class NotFound(Contract):
    outcome: Literal["not_found"] = "not_found"


class Act(Contract):
    """The installation act; ``meter_model`` may be empty."""

    act_number: str
    meter_serial: str
    meter_model: str
    initial_reading_m3: str
    seal_numbers: list[str]
    installed_at: str
    installer_name: str


class ReportOutcome(Contract):
    application_number: str
    work_order_id: str
    team_id: str
    outcome: Literal["installed", "existing_meter_registered", "not_executed"]
    act: Act | None = None  # required unless not_executed, absent then
    reason_code: Literal["no_meter_stock", "unsuitable_water_line"] | None = None
    comment: str = ""


class Accepted(Contract):
    outcome: Literal["accepted"] = "accepted"


class ReceiveStock(Contract):
    district_code: str
    quantity: int = Field(ge=1)


class StockAccepted(Contract):
    outcome: Literal["accepted"] = "accepted"
    in_stock: int
