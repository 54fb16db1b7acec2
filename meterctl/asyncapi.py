"""``meterctl asyncapi``: the external contract as an AsyncAPI 3.0 document.

Built from the contract registry (``shared.contracts.registry``): every command with its
replies, every event, their JSON Schemas from the pydantic models, the exchanges as AMQP
channel bindings and the message properties as AMQP message bindings. Integrators read
the same shapes the services speak; a test fails when ``deploy/asyncapi.json`` is stale.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pydantic import BaseModel

from shared.contracts.field import TEAM_KEY_PREFIX, WorkOrderAssigned
from shared.contracts.portal import UPDATED, ApplicationUpdated
from shared.contracts.registry import (
    COMMANDS,
    COMMANDS_EXCHANGE,
    EVENTS,
    EVENTS_EXCHANGE,
    FIELD_EXCHANGE,
    PORTAL_EXCHANGE,
    REPLIES,
    reply_type,
)
from shared.senders import CHANNELS
from shared.settings import CommonSettings
from shared.topology import EXCHANGES

BINDING_VERSION = "0.3.0"
SERVERS = {
    "local": {
        "host": "localhost:5672",
        "protocol": "amqp",
        "protocolVersion": "0.9.1",
        "description": "make run: the local RabbitMQ, virtual host meter-local",
    },
    "production": {
        "host": "rabbitmq.example.az:5671",
        "protocol": "amqps",
        "protocolVersion": "0.9.1",
        "description": "AMQP over TLS; each portal and field app connects as its own broker user",
    },
}


def add_commands(areas: Any) -> None:
    area = areas.add_parser("asyncapi", help="print the external contract as AsyncAPI 3.0")
    area.set_defaults(func=print_document)


def print_document(args: argparse.Namespace, settings: CommonSettings) -> int:
    print(json.dumps(document(), indent=2, ensure_ascii=False))
    return 0


def _exchange(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": EXCHANGES[name],
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }


def _channel_binding(exchange: str) -> dict[str, Any]:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": _exchange(exchange),
            "bindingVersion": BINDING_VERSION,
        }
    }


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def message(name: str, model: type[BaseModel], message_type: str) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for nested, nested_schema in schema.pop("$defs", {}).items():
            schemas.setdefault(nested, nested_schema)
        schemas[model.__name__] = schema
        messages[name] = {
            "name": name,
            "title": model.__name__,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "bindings": {
                "amqp": {
                    "contentEncoding": "utf-8",
                    "messageType": message_type,
                    "bindingVersion": BINDING_VERSION,
                }
            },
        }
        if model.__doc__:
            messages[name]["summary"] = model.__doc__.strip().splitlines()[0]
        return {"$ref": f"#/components/messages/{name}"}

    for key, command in COMMANDS.items():
        name = command.__name__
        channels[key] = {
            "address": key,
            "description": (
                f"`{COMMANDS_EXCHANGE}` ({EXCHANGES[COMMANDS_EXCHANGE]}), routing key `{key}`; "
                f"served by {command.owner.value}; sent by the {command.sender.value} role"
            ),
            "messages": {name: message(name, command, name)},
            "bindings": _channel_binding(COMMANDS_EXCHANGE),
        }
        reply_refs = {
            f"{name}Reply{model.__name__}": message(
                f"{name}Reply{model.__name__}", model, reply_type(key)
            )
            for model in REPLIES[command]
        }
        channels[f"{key}.reply"] = {
            "address": None,
            "description": "the request's reply_to: Direct Reply-to or the sender's own queue",
            "messages": reply_refs,
        }
        operations[name] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{command.sender.value} → {command.owner.value}",
            "bindings": {
                "amqp": {"deliveryMode": 2, "ack": True, "bindingVersion": BINDING_VERSION}
            },
            "reply": {
                "address": {"location": "$message.header#/reply_to"},
                "channel": {"$ref": f"#/channels/{key}.reply"},
            },
        }
    for key, event in EVENTS.items():
        channels[key] = {
            "address": key,
            "description": (
                f"`{EVENTS_EXCHANGE}` ({EXCHANGES[EVENTS_EXCHANGE]}), routing key `{key}`; "
                f"published by {event.producer.value}"
            ),
            "messages": {event.__name__: message(event.__name__, event, key)},
            "bindings": _channel_binding(EVENTS_EXCHANGE),
        }
        operations[event.__name__] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"published by {event.producer.value}",
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": BINDING_VERSION}},
        }
    # Field apps' work orders: one key per team, readable only by that team's users.
    field_channel = WorkOrderAssigned.message_type
    channels[field_channel] = {
        "address": TEAM_KEY_PREFIX + "{team_id}",
        "description": (
            f"`{FIELD_EXCHANGE}` ({EXCHANGES[FIELD_EXCHANGE]}), routing key `team.<team_id>`; "
            f"published by {WorkOrderAssigned.producer.value} on every assignment; a field-app "
            "user may read only its own teams' keys (no FIN, no e-mail)"
        ),
        "parameters": {"team_id": {"description": "the team the work order is assigned to"}},
        "messages": {
            WorkOrderAssigned.__name__: message(
                WorkOrderAssigned.__name__, WorkOrderAssigned, WorkOrderAssigned.message_type
            )
        },
        "bindings": _channel_binding(FIELD_EXCHANGE),
    }
    operations[WorkOrderAssigned.__name__] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{field_channel}"},
        "summary": f"published by {WorkOrderAssigned.producer.value} to the assigned team",
        "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": BINDING_VERSION}},
    }
    # Portals' updates: one key per channel, readable only by that channel's portal users.
    portal_channel = ApplicationUpdated.message_type
    channels[portal_channel] = {
        "address": "{channel}." + UPDATED,
        "description": (
            f"`{PORTAL_EXCHANGE}` ({EXCHANGES[PORTAL_EXCHANGE]}), routing key "
            f"`<channel>.{UPDATED}`; published by {ApplicationUpdated.producer.value} after every "
            "change of an application's view (the whole view, as state); a portal user may read "
            "only its own channel's key"
        ),
        "parameters": {"channel": {"description": "e-gov, azersu or e-su", "enum": list(CHANNELS)}},
        "messages": {
            ApplicationUpdated.__name__: message(
                ApplicationUpdated.__name__, ApplicationUpdated, ApplicationUpdated.message_type
            )
        },
        "bindings": _channel_binding(PORTAL_EXCHANGE),
    }
    operations[ApplicationUpdated.__name__] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{portal_channel}"},
        "summary": f"published by {ApplicationUpdated.producer.value} to the application's portal",
        "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": BINDING_VERSION}},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Water-meter installation applications",
            "version": "1.0.0",
            "description": (
                "Every message: content_type application/json, persistent, a unique "
                "message_id, timestamp, app_id, and type = the message name (a reply: the "
                "request's name plus Reply; an event: its routing key). Requests carry "
                "reply_to and correlation_id; portals set user_id. See docs/ in the "
                "repository for the rules, error codes and texts."
            ),
        },
        "servers": SERVERS,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
