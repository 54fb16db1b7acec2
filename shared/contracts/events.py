"""Domain events on ``meter.events`` (docs/reference/events.md): one model each, and ``Event``, the
union of them all, which is the registry of events.

Each model names its routing key, its producer, the status it gives the application, and
whether the citizen is told of it and whether it closes the application. Consumers match
an ``Event`` exhaustively (``match`` + ``assert_never``), so adding a model to the union
makes the type check name every consumer that does not handle it yet.

Producers may add fields; consumers keep what they do not know (``extra="allow"``). The
optional fields declared here are ones the services add today.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.catalogue import Status
from shared.contracts.commands import Act, Service


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(description="E.164")
    email: str


class DomainEvent(BaseModel):
    """Every event: its application and when it happened."""

    model_config = ConfigDict(extra="allow")

    routing_key: ClassVar[str]
    producer: ClassVar[Service]
    # The status an application event gives the application; None for notification events.
    status: ClassVar[Status | None] = None
    notifies_citizen: ClassVar[bool] = False
    closes_application: ClassVar[bool] = False

    application_number: str
    occurred_at: str = Field(description="ISO 8601 with offset")


class ApplicationEvent(DomainEvent):
    """Every ``application.*`` event also carries its place in the application's order."""

    sequence: int = Field(ge=1, description="1, 2, 3, … per application")


class ApplicationRegistered(ApplicationEvent):
    routing_key: ClassVar[str] = "application.registered"
    producer: ClassVar[Service] = Service.INTAKE
    status: ClassVar[Status | None] = Status.REGISTERED
    notifies_citizen: ClassVar[bool] = True

    subscriber_code: str
    applicant_fin: str
    channel: str
    reason_code: str
    language: str
    district_code: str
    additional_meter: bool
    contact: Contact
    notes: str
    address: str | None = Field(None, description="the subscriber code's address")
    due_by: str | None = Field(
        None, description="the date it is due (YYYY-MM-DD, Asia/Baku working days)"
    )


class ApplicationForwarded(ApplicationEvent):
    routing_key: ClassVar[str] = "application.forwarded"
    producer: ClassVar[Service] = Service.DISPATCHER
    status: ClassVar[Status | None] = Status.FORWARDED
    notifies_citizen: ClassVar[bool] = True

    district_code: str


class ApplicationAssigned(ApplicationEvent):
    routing_key: ClassVar[str] = "application.assigned"
    producer: ClassVar[Service] = Service.DISPATCHER
    status: ClassVar[Status | None] = Status.ASSIGNED

    work_order_id: str
    team_id: str
    district_code: str | None = None
    subscriber_code: str | None = None
    reason_code: str | None = None


class ApplicationCompleted(ApplicationEvent):
    routing_key: ClassVar[str] = "application.completed"
    producer: ClassVar[Service] = Service.DISPATCHER
    status: ClassVar[Status | None] = Status.COMPLETED
    notifies_citizen: ClassVar[bool] = True
    closes_application: ClassVar[bool] = True

    outcome: Literal["installed", "existing_meter_registered"]
    act: Act
    work_order_id: str | None = None
    team_id: str | None = None


class ApplicationRejected(ApplicationEvent):
    routing_key: ClassVar[str] = "application.rejected"
    producer: ClassVar[Service] = Service.DISPATCHER
    status: ClassVar[Status | None] = Status.REJECTED
    notifies_citizen: ClassVar[bool] = True
    closes_application: ClassVar[bool] = True

    reason_code: str
    comment: str
    work_order_id: str | None = None


class ApplicationWithdrawn(ApplicationEvent):
    """The citizen took the application back before a team was assigned."""

    routing_key: ClassVar[str] = "application.withdrawn"
    producer: ClassVar[Service] = Service.DISPATCHER
    status: ClassVar[Status | None] = Status.WITHDRAWN
    notifies_citizen: ClassVar[bool] = True
    closes_application: ClassVar[bool] = True

    work_order_id: str | None = None


class ApplicationOverdue(ApplicationEvent):
    """An open application passed its due date (for operations: the citizen is not told)."""

    routing_key: ClassVar[str] = "application.overdue"
    producer: ClassVar[Service] = Service.DISPATCHER

    due_by: str = Field(description="YYYY-MM-DD, Asia/Baku")
    district_code: str
    team_id: str | None = None
    work_order_id: str | None = None


class NotificationOutcomeEvent(DomainEvent):
    """What became of one e-mail or SMS about one step."""

    producer: ClassVar[Service] = Service.NOTIFIER

    event: str = Field(description="the routing key notified")
    channel: Literal["email", "sms"]
    attempts: int | None = None
    error: str | None = None


class NotificationDelivered(NotificationOutcomeEvent):
    routing_key: ClassVar[str] = "notification.delivered"


class NotificationFailed(NotificationOutcomeEvent):
    routing_key: ClassVar[str] = "notification.failed"


Event = Union[  # noqa: UP007  (a union of classes that ``get_args`` reads)
    ApplicationRegistered,
    ApplicationForwarded,
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationRejected,
    ApplicationWithdrawn,
    ApplicationOverdue,
    NotificationDelivered,
    NotificationFailed,
]
"""Every event of the system: the event registry."""

EVENT_MODELS: tuple[type[DomainEvent], ...] = get_args(Event)
EVENTS: dict[str, type[DomainEvent]] = {model.routing_key: model for model in EVENT_MODELS}


def event_body(event: DomainEvent) -> dict[str, Any]:
    """The event as published: JSON values, optional fields left out when empty."""
    return event.model_dump(mode="json", exclude_none=True)
