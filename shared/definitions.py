"""RabbitMQ definitions for a deployment, generated from ``shared.topology``.

Exchanges, queues and bindings are the ones the services declare; users and their
permissions are part of the deployed definitions (DESIGN.md section 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.registry import DEAD_LETTER_EXCHANGE
from shared.topology import ALL_QUEUES, EXCHANGES, StreamQueue


@dataclass(frozen=True)
class BrokerUser:
    """A broker user of the deployment and what it may touch (regexes, as RabbitMQ has)."""

    name: str
    configure: str
    write: str
    read: str
    tags: tuple[str, ...] = ()


_REPLY_QUEUES = r"amq\.gen-.*|amq\.rabbitmq\.reply-to"
USERS = (
    BrokerUser("meter-services", ".*", ".*", ".*"),
    # Portals publish commands and read replies on Direct Reply-to or their own queues.
    BrokerUser(
        "portal-egov", rf"^({_REPLY_QUEUES})$", r"^meter\.commands$", rf"^({_REPLY_QUEUES})$"
    ),
    BrokerUser(
        "portal-esu", rf"^({_REPLY_QUEUES})$", r"^meter\.commands$", rf"^({_REPLY_QUEUES})$"
    ),
    # The field-team app also follows application.assigned through queues named field.*.
    BrokerUser(
        "field-app",
        rf"^({_REPLY_QUEUES}|field\..*)$",
        rf"^(meter\.commands|{_REPLY_QUEUES}|field\..*)$",
        rf"^(meter\.events|{_REPLY_QUEUES}|field\..*)$",
    ),
    # impersonator: replayed messages keep the user_id of the portal that sent them.
    BrokerUser("meter-ops", ".*", ".*", ".*", ("administrator", "impersonator")),
)


def vhost_definitions(streams: Sequence[StreamQueue] = ()) -> dict[str, Any]:
    """Exchanges, queues and bindings, in the per-vhost definitions format.

    ``streams``: streams a service owns (status's event archive), declared up front so
    that no event predates them.
    """
    queues: list[dict[str, Any]] = []
    bindings: list[dict[str, Any]] = []
    for queue in ALL_QUEUES:
        queues.append(
            {
                "name": queue.name,
                "durable": True,
                "auto_delete": False,
                "arguments": queue.arguments(),
            }
        )
        queues.append(
            {
                "name": queue.parking_queue,
                "durable": True,
                "auto_delete": False,
                "arguments": {"x-queue-type": "quorum"},
            }
        )
        bindings.extend(
            {
                "source": exchange,
                "destination": queue.name,
                "destination_type": "queue",
                "routing_key": key,
                "arguments": {},
            }
            for exchange, key in queue.bindings
        )
        bindings.append(
            {
                "source": DEAD_LETTER_EXCHANGE,
                "destination": queue.parking_queue,
                "destination_type": "queue",
                "routing_key": queue.name,
                "arguments": {},
            }
        )
    for stream in streams:
        queues.append(
            {
                "name": stream.name,
                "durable": True,
                "auto_delete": False,
                "arguments": stream.arguments(),
            }
        )
        bindings.extend(
            {
                "source": exchange,
                "destination": stream.name,
                "destination_type": "queue",
                "routing_key": key,
                "arguments": {},
            }
            for exchange, key in stream.bindings
        )
    exchanges = [
        {
            "name": name,
            "type": kind,
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        }
        for name, kind in EXCHANGES.items()
    ]
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def definitions(vhost: str = "/", streams: Sequence[StreamQueue] = ()) -> dict[str, Any]:
    """Broker-wide definitions (``rabbitmqctl import_definitions``) for a deployment.

    Users carry no password: operators set one per user after the import
    (``rabbitmqctl change_password``), so no secret lives in the repository.
    """
    per_vhost = vhost_definitions(streams)
    return {
        "vhosts": [{"name": vhost}],
        "users": [
            {
                "name": user.name,
                "password_hash": "",
                "tags": list(user.tags),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
            }
            for user in USERS
        ],
        "permissions": [
            {
                "user": user.name,
                "vhost": vhost,
                "configure": user.configure,
                "write": user.write,
                "read": user.read,
            }
            for user in USERS
        ],
        "exchanges": [{**item, "vhost": vhost} for item in per_vhost["exchanges"]],
        "queues": [{**item, "vhost": vhost} for item in per_vhost["queues"]],
        "bindings": [{**item, "vhost": vhost} for item in per_vhost["bindings"]],
    }
