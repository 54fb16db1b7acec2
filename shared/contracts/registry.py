"""The one registry of the external contract: every command and event, by routing key.

routing key → model → owning service → sender role (commands) or producer and status
effect (events). The broker topology (``shared.topology``), the deployed definitions, the
AsyncAPI document, the status projection and the notifier's templates are all derived
from it; nothing else lists routing keys.
"""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.commands import (
    COMMAND_MODELS,
    CheckSubscriber,
    Command,
    GetApplication,
    ListApplications,
    ListReasons,
    ListSubscriberAccounts,
    ReceiveStock,
    ReportOutcome,
    Role,
    Service,
    SubmitApplication,
    WithdrawApplication,
)
from shared.contracts.events import EVENT_MODELS, EVENTS, DomainEvent, Event
from shared.contracts.replies import (
    Accepted,
    AccountsReply,
    ApplicationList,
    ApplicationView,
    ConfirmationRequired,
    NotFound,
    ReasonsReply,
    Refused,
    Registered,
    StockAccepted,
    SubscriberAccount,
    Withdrawn,
)

COMMANDS_EXCHANGE = "meter.commands"  # topic: exact keys bound, topic permissions per user
EVENTS_EXCHANGE = "meter.events"
DEAD_LETTER_EXCHANGE = "meter.dlx"
UNROUTABLE_EXCHANGE = "meter.unroutable"  # the commands' alternate exchange (fanout)
UNROUTABLE_QUEUE = "meter.unroutable"
FIELD_EXCHANGE = "meter.field"  # work orders for field apps, key team.<team_id>
PORTAL_EXCHANGE = "meter.portal"  # application updates for portals, key <channel>.<kind>

COMMANDS: dict[str, type[Command]] = {model.routing_key: model for model in COMMAND_MODELS}

# The replies each command may get, in the order the contract lists them.
REPLIES: dict[type[Command], tuple[type[BaseModel], ...]] = {
    ListReasons: (ReasonsReply, Refused),
    ListSubscriberAccounts: (AccountsReply, Refused),
    CheckSubscriber: (SubscriberAccount, Refused),
    SubmitApplication: (Registered, ConfirmationRequired, Refused),
    GetApplication: (ApplicationView, NotFound, Refused),
    ListApplications: (ApplicationList, Refused),
    ReportOutcome: (Accepted, Refused),
    ReceiveStock: (StockAccepted, Refused),
    WithdrawApplication: (Withdrawn, Refused),
}


def reply_type(routing_key: str) -> str:
    """The AMQP ``type`` of a reply: the request's message name plus ``Reply``."""
    return COMMANDS[routing_key].__name__ + "Reply"


def commands_of(owner: Service) -> list[type[Command]]:
    return [model for model in COMMAND_MODELS if model.owner == owner]


def commands_sent_by(role: Role) -> list[type[Command]]:
    return [model for model in COMMAND_MODELS if model.sender == role]


def events_where(**flags: bool) -> list[type[DomainEvent]]:
    """Event models whose class flags (``notifies_citizen``, ``closes_application``) match."""
    return [
        model
        for model in EVENT_MODELS
        if all(getattr(model, name) == value for name, value in flags.items())
    ]


__all__ = [
    "COMMANDS",
    "COMMANDS_EXCHANGE",
    "DEAD_LETTER_EXCHANGE",
    "EVENTS",
    "EVENTS_EXCHANGE",
    "EVENT_MODELS",
    "FIELD_EXCHANGE",
    "PORTAL_EXCHANGE",
    "REPLIES",
    "UNROUTABLE_EXCHANGE",
    "UNROUTABLE_QUEUE",
    "Command",
    "DomainEvent",
    "Event",
    "Role",
    "Service",
    "commands_of",
    "commands_sent_by",
    "events_where",
    "reply_type",
]
