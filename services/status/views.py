"""The shapes the citizen sees (DESIGN.md section 5), shared by the AMQP and HTTP reads.

The read model stores views already shaped by these models; the HTTP API declares them as
response models, so its OpenAPI document describes exactly what is answered.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.catalogue import Status

NUMBER_PATTERN = r"^SQ-[0-9]{4}-[0-9]{6}$"  # [0-9], not \d: no other scripts' digits


def is_application_number(value: str) -> bool:
    return re.fullmatch(NUMBER_PATTERN, value, re.ASCII) is not None


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Act(BaseModel):
    """The installation act from ``application.completed`` (fields it may add are dropped)."""

    model_config = ConfigDict(extra="ignore")

    act_number: str
    meter_serial: str
    meter_model: str = Field(description="may be empty")
    initial_reading_m3: str
    seal_numbers: list[str]
    installed_at: str
    installer_name: str


class TimelineStep(Shape):
    status: Status
    at: str = Field(description="ISO 8601 with the Asia/Baku offset")
    label: str = Field(description="the status in Azerbaijani")
    note: str | None = None


class Rejection(Shape):
    reason_code: str
    message: str = Field(description="the reason in words, in the application's language")


class NotificationOutcome(Shape):
    event: str = Field(description="the routing key notified, e.g. application.registered")
    channel: Literal["email", "sms"]
    state: Literal["delivered", "failed"]


class ApplicationSummary(Shape):
    """An application as listed: everything but the timeline."""

    application_number: str = Field(pattern=NUMBER_PATTERN)
    status: Status
    status_label: str = Field(description="the status in Azerbaijani")
    subscriber_code: str
    reason_code: str
    channel: str
    submitted_at: str
    updated_at: str
    act: Act | None = Field(default=None, description="present when completed")
    rejection: Rejection | None = Field(default=None, description="present when rejected")
    notifications: list[NotificationOutcome]


class ApplicationView(ApplicationSummary):
    timeline: list[TimelineStep]


class ApplicationList(Shape):
    applications: list[ApplicationSummary] = Field(description="newest first")


class NotFound(Shape):
    outcome: Literal["not_found"] = "not_found"


class Problem(Shape):
    """Why an HTTP request was not answered with a view."""

    code: str
    message: str
