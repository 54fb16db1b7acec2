"""The broker users of a deployment and what each may touch, from the topology (pure).

Least privilege for every user (configure, write and read permissions, and topic
permissions on the topic exchanges), as ``shared.definitions`` describes; the regular
expressions are RabbitMQ's, which match resource names whatever their kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
from shared.topology import ALL_QUEUES, SERVICE_EXCHANGES, StreamQueue, queues_of

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


def service_user(service: Service, prefix: str = "") -> str:
    """``svc-<service>``; ``prefix`` tells several deployments on one broker apart."""
    return f"{prefix}svc-{service.value}"


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


def _service_user(service: Service, streams: Sequence[StreamQueue], prefix: str) -> BrokerUser:
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
        name=service_user(service, prefix),
        # Binding the queue meter.unroutable needs read on the exchange meter.unroutable;
        # RabbitMQ matches names, not kinds, so that reads the queue too.
        configure=_any([*own, *extra_queues, *exchanges]),
        write=_any([*own, *extra_queues, *publishes]),
        read=_any([*own, *exchanges]),
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
        # Replays go straight into work queues through the default exchange, and so do the
        # marks a rebuild appends to the archive (publishing checks the exchange only).
        write=_any([COMMANDS_EXCHANGE, DEFAULT_EXCHANGE, "~" + REPLY_QUEUES]),
        read=_any(
            [*parked, *archives, UNROUTABLE_QUEUE, "~" + REPLY_QUEUES, "~" + DIRECT_REPLY_TO]
        ),
        topics={COMMANDS_EXCHANGE: (_any(commands), NOTHING)},
        tags=("monitoring",),
    )


def users(
    senders: Senders, streams: Sequence[StreamQueue] = (), prefix: str = ""
) -> list[BrokerUser]:
    """Every broker user of a deployment with the given sender roles, least privilege each.

    ``prefix`` goes before the service users' names (the senders' users are named in full
    by ``senders``). A user in several roles (``guest`` locally) gets what each role may.
    """
    found = [_service_user(service, streams, prefix) for service in Service]
    found += [_portal_user(user, channel) for user, channel in sorted(senders.channels.items())]
    found += [_field_user(user, teams) for user, teams in sorted(senders.field_teams.items())]
    found += [_operations_user(user, streams) for user in sorted(senders.operations)]
    merged: dict[str, BrokerUser] = {}
    for user in found:
        merged[user.name] = _merge(merged[user.name], user) if user.name in merged else user
    return list(merged.values())


def _either(first: str, second: str) -> str:
    """A regex matching what either matches (``^$`` matches nothing a name can be)."""
    if first in (NOTHING, second):
        return second
    return first if second == NOTHING else f"(?:{first})|(?:{second})"


def _merge(first: BrokerUser, second: BrokerUser) -> BrokerUser:
    topics = dict(first.topics)
    for exchange, (write, read) in second.topics.items():
        before = topics.get(exchange, (NOTHING, NOTHING))
        topics[exchange] = (_either(before[0], write), _either(before[1], read))
    return BrokerUser(
        name=first.name,
        configure=_either(first.configure, second.configure),
        write=_either(first.write, second.write),
        read=_either(first.read, second.read),
        topics=topics,
        tags=tuple(sorted({*first.tags, *second.tags})),
    )
