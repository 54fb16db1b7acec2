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

Users carry no password: ``meterctl topology apply`` sets them from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.contracts.events import EVENT_MODELS
from shared.contracts.registry import (
    COMMANDS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    FIELD_EXCHANGE,
    PORTAL_EXCHANGE,
    UNROUTABLE_EXCHANGE,
    UNROUTABLE_QUEUE,
    Role,
    Service,
    commands_sent_by,
)
from shared.senders import ALL_TEAMS, Senders
from shared.topology import (
    ALL_QUEUES,
    EXCHANGE_SPECS,
    SERVICE_EXCHANGES,
    UNROUTABLE_ARGUMENTS,
    StreamQueue,
    queues_of,
)

# The deployment the committed definitions describe (deploy/k8s/base/config.env alike).
EXAMPLE_SENDERS = Senders(
    channels={"portal-egov": "e-gov", "portal-azersu": "azersu", "portal-esu": "e-su"},
    field_teams={
        "field-baku": frozenset({"T-01", "T-02", "T-03"}),
        "field-regions": frozenset({"T-04", "T-05"}),
    },
    operations=frozenset({"meter-ops"}),
)
REPLY_QUEUES = r"amq\.gen-.*"
DIRECT_REPLY_TO = r"amq\.rabbitmq\.reply-to"
DEFAULT_EXCHANGE = "amq.default"
NOTHING = "^$"


def service_user(service: Service) -> str:
    return f"svc-{service.value}"


@dataclass(frozen=True)
class BrokerUser:
    """A broker user and what it may touch (regular expressions, as RabbitMQ has them)."""

    name: str
    configure: str
    write: str
    read: str
    # exchange -> (write, read): routing keys it may publish, and bind with.
    topics: dict[str, tuple[str, str]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def _any(names: Iterable[str]) -> str:
    """A regex matching exactly these names (or patterns already escaped, marked with ~)."""
    parts = sorted({name[1:] if name.startswith("~") else re.escape(name) for name in names})
    return f"^({'|'.join(parts)})$" if parts else NOTHING


def _service_user(service: Service, streams: Sequence[StreamQueue]) -> BrokerUser:
    queues = queues_of(service)
    own = [queue.name for queue in queues] + [queue.parking_queue for queue in queues]
    own += [stream.name for stream in streams if stream.owner == service]
    exchanges = list(SERVICE_EXCHANGES[service])
    if any(stream.owner == service for stream in streams):
        exchanges.append(EVENTS_EXCHANGE)
    extra_queues = [UNROUTABLE_QUEUE] if UNROUTABLE_EXCHANGE in exchanges else []
    produced = [model.routing_key for model in EVENT_MODELS if model.producer == service]
    publishes = [DEAD_LETTER_EXCHANGE, DEFAULT_EXCHANGE]
    topics: dict[str, tuple[str, str]] = {}
    if produced:
        publishes.append(EVENTS_EXCHANGE)
    bound_events = sorted(
        {key for queue in queues for exchange, key in queue.bindings if exchange == EVENTS_EXCHANGE}
    )
    if any(stream.owner == service for stream in streams):
        bound_events.append("#")
    topics[EVENTS_EXCHANGE] = (_any(produced), _any(bound_events))
    if COMMANDS_EXCHANGE in exchanges:
        commands = [
            key
            for queue in queues
            for exchange, key in queue.bindings
            if exchange == COMMANDS_EXCHANGE
        ]
        topics[COMMANDS_EXCHANGE] = (NOTHING, _any(commands))
        publishes.append(UNROUTABLE_EXCHANGE)  # declaring an exchange with its alternate
    if FIELD_EXCHANGE in exchanges:
        publishes.append(FIELD_EXCHANGE)
        topics[FIELD_EXCHANGE] = (r"^team\..+$", NOTHING)
    if PORTAL_EXCHANGE in exchanges:
        publishes.append(PORTAL_EXCHANGE)
        topics[PORTAL_EXCHANGE] = (r"^[a-z-]+\.[a-z_]+$", NOTHING)
    return BrokerUser(
        name=service_user(service),
        configure=_any([*own, *extra_queues, *exchanges]),
        write=_any([*own, *extra_queues, *publishes]),
        read=_any([*own, *extra_queues, *exchanges]),
        topics=topics,
    )


def _portal_user(user: str, channel: str) -> BrokerUser:
    keys = [
        "~" + re.escape(model.routing_key)
        for model in commands_sent_by(Role.PORTAL)
        if not model.routing_key.startswith(("intake.", "status."))
    ]
    own = rf"~portal\.{re.escape(channel)}\..+"
    return BrokerUser(
        name=user,
        configure=_any(["~" + REPLY_QUEUES, own]),
        write=_any([COMMANDS_EXCHANGE, "~" + REPLY_QUEUES, own]),
        read=_any(["~" + REPLY_QUEUES, "~" + DIRECT_REPLY_TO, own, PORTAL_EXCHANGE]),
        topics={
            COMMANDS_EXCHANGE: (_any([r"~intake\..+", r"~status\..+", *keys]), NOTHING),
            PORTAL_EXCHANGE: (NOTHING, _any([rf"~{re.escape(channel)}\..+"])),
        },
    )


def _field_user(user: str, teams: frozenset[str]) -> BrokerUser:
    own = rf"~field\.{re.escape(user)}\..+"
    reports = [model.routing_key for model in commands_sent_by(Role.FIELD_APP)]
    readable = r"~team\..+" if ALL_TEAMS in teams else [f"team.{team}" for team in teams]
    return BrokerUser(
        name=user,
        configure=_any(["~" + REPLY_QUEUES, own]),
        write=_any([COMMANDS_EXCHANGE, "~" + REPLY_QUEUES, own]),
        read=_any(["~" + REPLY_QUEUES, "~" + DIRECT_REPLY_TO, own, FIELD_EXCHANGE]),
        topics={
            COMMANDS_EXCHANGE: (_any(reports), NOTHING),
            FIELD_EXCHANGE: (NOTHING, _any([readable] if isinstance(readable, str) else readable)),
        },
    )


def _operations_user(user: str, streams: Sequence[StreamQueue]) -> BrokerUser:
    parked = [queue.parking_queue for queue in ALL_QUEUES]
    archives = [stream.name for stream in streams]
    commands = [model.routing_key for model in commands_sent_by(Role.OPERATIONS)]
    return BrokerUser(
        name=user,
        configure=_any(["~" + REPLY_QUEUES]),
        # Replays go straight into work queues through the default exchange.
        write=_any([COMMANDS_EXCHANGE, DEFAULT_EXCHANGE, "~" + REPLY_QUEUES, *archives]),
        read=_any(
            [*parked, *archives, UNROUTABLE_QUEUE, "~" + REPLY_QUEUES, "~" + DIRECT_REPLY_TO]
        ),
        topics={COMMANDS_EXCHANGE: (_any(commands), NOTHING)},
        tags=("monitoring",),
    )


def users(senders: Senders, streams: Sequence[StreamQueue] = ()) -> list[BrokerUser]:
    """Every broker user of a deployment with the given sender roles, least privilege each."""
    found = [_service_user(service, streams) for service in Service]
    found += [_portal_user(user, channel) for user, channel in sorted(senders.channels.items())]
    found += [_field_user(user, teams) for user, teams in sorted(senders.field_teams.items())]
    found += [_operations_user(user, streams) for user in sorted(senders.operations)]
    return found


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
) -> dict[str, Any]:
    """Broker-wide definitions (``rabbitmqctl import_definitions``) for a deployment.

    Users carry no password (``meterctl topology apply`` sets them), so no secret lives in
    the repository; importing these definitions leaves such users unable to log in until
    their passwords are set.
    """
    per_vhost = vhost_definitions(streams)
    accounts = users(senders, streams)
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


__all__ = ["EXAMPLE_SENDERS", "BrokerUser", "definitions", "users", "vhost_definitions"]
