"""``meterctl topology asyncapi``: the external contract as an AsyncAPI 3.0 document.

Built from the contract models (``shared.contracts.messages``, the status views) and the
routing keys, so integrators read the same shapes the services speak.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel

from services.status.views import ApplicationList, ApplicationView
from shared.contracts import messages as m
from shared.contracts import routing
from shared.settings import CommonSettings

COMMANDS: dict[str, tuple[type[BaseModel], tuple[type[BaseModel], ...]]] = {
    "intake.list_reasons": (m.ListReasons, (m.ReasonsReply, m.Refused)),
    "intake.list_subscriber_accounts": (m.ListSubscriberAccounts, (m.AccountsReply, m.Refused)),
    "intake.check_subscriber": (m.CheckSubscriber, (m.SubscriberAccount, m.Refused)),
    "intake.submit_application": (
        m.SubmitApplication,
        (m.Registered, m.ConfirmationRequired, m.Refused),
    ),
    "status.get_application": (m.GetApplication, (ApplicationView, m.NotFound, m.Refused)),
    "status.list_applications": (m.ListApplications, (ApplicationList, m.Refused)),
    "dispatcher.report_outcome": (m.ReportOutcome, (m.Accepted, m.Refused)),
    "dispatcher.receive_stock": (m.ReceiveStock, (m.StockAccepted, m.Refused)),
}
EVENTS: dict[str, type[BaseModel]] = {
    routing.APPLICATION_REGISTERED: m.ApplicationRegistered,
    routing.APPLICATION_FORWARDED: m.ApplicationForwarded,
    routing.APPLICATION_ASSIGNED: m.ApplicationAssigned,
    routing.APPLICATION_COMPLETED: m.ApplicationCompleted,
    routing.APPLICATION_REJECTED: m.ApplicationRejected,
    routing.NOTIFICATION_DELIVERED: m.NotificationEvent,
    routing.NOTIFICATION_FAILED: m.NotificationEvent,
}


def add_commands(areas: Any) -> None:
    # `topology` belongs to meterctl/topology.py; this adds a sibling area.
    area = areas.add_parser("asyncapi", help="print the external contract as AsyncAPI 3.0")
    area.set_defaults(func=print_document)


def print_document(args: argparse.Namespace, settings: CommonSettings) -> int:
    print(json.dumps(document(), indent=2, ensure_ascii=False))
    return 0


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def message(name: str, model: type[BaseModel]) -> dict[str, str]:
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for nested, schema in schemas[model.__name__].pop("$defs", {}).items():
            schemas.setdefault(nested, schema)
        messages[name] = {
            "name": name,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        }
        return {"$ref": f"#/components/messages/{name}"}

    for key, (request, replies) in COMMANDS.items():
        name = routing.COMMANDS[key]
        channels[key] = {
            "address": key,
            "description": f"`{routing.COMMANDS_EXCHANGE}` (direct), routing key `{key}`",
            "messages": {name: message(name, request)},
        }
        reply_refs = {
            f"{name}Reply{model.__name__}": message(f"{name}Reply{model.__name__}", model)
            for model in replies
        }
        channels[f"{key}.reply"] = {"address": None, "messages": reply_refs}
        operations[name] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "reply": {
                "address": {"location": "$message.header#/reply_to"},
                "channel": {"$ref": f"#/channels/{key}.reply"},
            },
        }
    for key, model in EVENTS.items():
        channels[key] = {
            "address": key,
            "description": f"`{routing.EVENTS_EXCHANGE}` (topic), routing key `{key}`",
            "messages": {key: message(key, model)},
        }
        operations[f"publish {key}"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Water-meter installation applications",
            "version": "1.0.0",
            "description": (
                "Every message: content_type application/json, persistent, a unique "
                "message_id, timestamp, app_id, and type = the message name (a reply: the "
                "request's name plus Reply; an event: its routing key). Requests carry "
                "reply_to and correlation_id; portals set user_id."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
