"""RabbitMQ definitions for a deployment, generated from the topology and the registry.

Exchanges, queues and bindings are the ones the services declare. Users and what each may
touch follow least privilege:

- each service (``svc-intake``, …) configures, reads and writes its own queues, declares
  and binds the exchanges it uses, publishes only the events it produces (topic
  permissions) and answers on the default exchange;
- each portal publishes only ``intake.*``, ``status.*`` and the withdrawal on
  ``meter.commands``, reads only its reply queues and its channel's keys on
  ``meter.portal``;
- each field app publishes only ``dispatcher.report_outcome`` and reads only its own teams'
  ``team.<id>`` keys on ``meter.field``;
- operations publish ``dispatcher.receive_stock``, read parking queues, the unroutable
  queue and the event archive, and replay into work queues.

The users themselves are built in ``shared.broker_users``. Users carry no password:
``meterctl topology apply`` sets them from the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.broker_users import EXAMPLE_SENDERS, BrokerUser, service_user, users
from shared.contracts.registry import DEAD_LETTER_EXCHANGE, UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE
from shared.senders import Senders
from shared.topology import ALL_QUEUES, EXCHANGE_SPECS, UNROUTABLE_ARGUMENTS, StreamQueue


def vhost_definitions(streams: Sequence[StreamQueue] = ()) -> dict[str, Any]:
    """Exchanges, queues and bindings, in the per-vhost definitions format.

    ``streams``: streams a service owns (status's event archive), declared up front so
    that no event predates them.
    """
    queues: list[dict[str, Any]] = [_queue(UNROUTABLE_QUEUE, UNROUTABLE_ARGUMENTS)]
    bindings: list[dict[str, Any]] = [_binding(UNROUTABLE_EXCHANGE, UNROUTABLE_QUEUE, "")]
    for queue in ALL_QUEUES:
        queues.append(_queue(queue.name, queue.arguments()))
        queues.append(_queue(queue.parking_queue, {"x-queue-type": "quorum"}))
        bindings.extend(_binding(exchange, queue.name, key) for exchange, key in queue.bindings)
        bindings.append(_binding(DEAD_LETTER_EXCHANGE, queue.parking_queue, queue.name))
    for stream in streams:
        queues.append(_queue(stream.name, stream.arguments()))
        bindings.extend(_binding(exchange, stream.name, key) for exchange, key in stream.bindings)
    exchanges = [
        {
            "name": exchange.name,
            "type": exchange.kind,
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": dict(exchange.arguments),
        }
        for exchange in EXCHANGE_SPECS
    ]
    return {"exchanges": exchanges, "queues": queues, "bindings": bindings}


def _queue(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "durable": True, "auto_delete": False, "arguments": arguments}


def _binding(source: str, destination: str, key: str) -> dict[str, Any]:
    return {
        "source": source,
        "destination": destination,
        "destination_type": "queue",
        "routing_key": key,
        "arguments": {},
    }


def definitions(
    vhost: str = "/",
    streams: Sequence[StreamQueue] = (),
    senders: Senders = EXAMPLE_SENDERS,
    prefix: str = "",
) -> dict[str, Any]:
    """Broker-wide definitions (``rabbitmqctl import_definitions``) for a deployment.

    Users carry no password (``meterctl topology apply`` sets them), so no secret lives in
    the repository; importing these definitions leaves such users unable to log in until
    their passwords are set.
    """
    per_vhost = vhost_definitions(streams)
    accounts = users(senders, streams, prefix)
    return {
        "vhosts": [{"name": vhost}],
        "users": [{"name": user.name, "tags": list(user.tags), "limits": {}} for user in accounts],
        "permissions": [
            {
                "user": user.name,
                "vhost": vhost,
                "configure": user.configure,
                "write": user.write,
                "read": user.read,
            }
            for user in accounts
        ],
        "topic_permissions": [
            {"user": user.name, "vhost": vhost, "exchange": exchange, "write": write, "read": read}
            for user in accounts
            for exchange, (write, read) in sorted(user.topics.items())
        ],
        "exchanges": [{**item, "vhost": vhost} for item in per_vhost["exchanges"]],
        "queues": [{**item, "vhost": vhost} for item in per_vhost["queues"]],
        "bindings": [{**item, "vhost": vhost} for item in per_vhost["bindings"]],
    }


__all__ = [
    "EXAMPLE_SENDERS",
    "BrokerUser",
    "definitions",
    "service_user",
    "users",
    "vhost_definitions",
]
