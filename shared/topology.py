"""The broker topology, derived from the contract registry and declared idempotently.

Exchanges: ``meter.commands`` (topic: commands and queries, exact keys bound; what no queue
binds goes to its alternate exchange ``meter.unroutable`` and the queue of that name),
``meter.events`` (domain events), ``meter.dlx`` (parking), ``meter.field`` (work orders for
field apps) and ``meter.portal`` (updates for portals). Every command's routing key has one
quorum queue of the owning service, named like the key; each service consumes the events
it needs through queues of its own. Every work queue dead-letters into ``<queue>.dlq``.
``shared.definitions`` renders the same objects as a RabbitMQ definitions file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contracts.events import ApplicationRegistered, DomainEvent
from shared.contracts.registry import (
    COMMANDS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    FIELD_EXCHANGE,
    PORTAL_EXCHANGE,
    UNROUTABLE_EXCHANGE,
    UNROUTABLE_QUEUE,
    Command,
    Service,
    commands_of,
    events_where,
)

# A message is parked at its 5th failure of its own, counted by the service
# (``shared.consuming``); outages, restarts and channel closures do not count. The broker's
# own limit is a backstop for a message that kills its consumer again and again (RabbitMQ
# 3.10 also counts a return on channel closure towards it).
FAILURE_LIMIT = 5
BROKER_DELIVERY_LIMIT = 20


@dataclass(frozen=True)
class Exchange:
    name: str
    kind: str
    arguments: dict[str, Any] = field(default_factory=dict)


EXCHANGE_SPECS = (
    Exchange(COMMANDS_EXCHANGE, "topic", {"alternate-exchange": UNROUTABLE_EXCHANGE}),
    Exchange(EVENTS_EXCHANGE, "topic"),
    Exchange(DEAD_LETTER_EXCHANGE, "direct"),
    Exchange(UNROUTABLE_EXCHANGE, "fanout"),
    Exchange(FIELD_EXCHANGE, "topic"),
    Exchange(PORTAL_EXCHANGE, "topic"),
)
EXCHANGES: dict[str, str] = {exchange.name: exchange.kind for exchange in EXCHANGE_SPECS}
EXCHANGE_BY_NAME = {exchange.name: exchange for exchange in EXCHANGE_SPECS}
# The exchanges each service declares: those it consumes from, parks to and publishes to.
SERVICE_EXCHANGES: dict[Service, tuple[str, ...]] = {
    Service.INTAKE: (COMMANDS_EXCHANGE, UNROUTABLE_EXCHANGE, EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE),
    Service.DISPATCHER: (
        COMMANDS_EXCHANGE,
        UNROUTABLE_EXCHANGE,
        EVENTS_EXCHANGE,
        DEAD_LETTER_EXCHANGE,
        FIELD_EXCHANGE,
    ),
    Service.NOTIFIER: (EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE),
    Service.STATUS: (
        COMMANDS_EXCHANGE,
        UNROUTABLE_EXCHANGE,
        EVENTS_EXCHANGE,
        DEAD_LETTER_EXCHANGE,
        PORTAL_EXCHANGE,
    ),
}


@dataclass(frozen=True)
class WorkQueue:
    """A quorum work queue with its bindings and its ``<name>.dlq`` parking queue."""

    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    owner: Service

    @property
    def parking_queue(self) -> str:
        return f"{self.name}.dlq"

    def arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": BROKER_DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            # Broker-side dead-lettering (past the delivery limit) must not lose messages.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


@dataclass(frozen=True)
class StreamQueue:
    """An append-only RabbitMQ stream: kept after reading, replayable from any offset.

    Streams take no delivery limit or dead-lettering, so they are not ``WorkQueue``s.
    """

    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    owner: Service

    def arguments(self) -> dict[str, Any]:
        return {"x-queue-type": "stream"}


def command_queue(model: type[Command]) -> WorkQueue:
    return WorkQueue(model.routing_key, ((COMMANDS_EXCHANGE, model.routing_key),), model.owner)


def event_queue(name: str, owner: Service, keys: list[str]) -> WorkQueue:
    return WorkQueue(name, tuple((EVENTS_EXCHANGE, key) for key in keys), owner)


def _keys(models: list[type[DomainEvent]]) -> list[str]:
    return [model.routing_key for model in models]


EVENT_QUEUES = (
    # Intake closes an application when it completes or is rejected.
    event_queue(
        "intake.application_closed", Service.INTAKE, _keys(events_where(closes_application=True))
    ),
    event_queue(
        "dispatcher.application_registered", Service.DISPATCHER, _keys([ApplicationRegistered])
    ),
    event_queue(
        "notifier.application_events", Service.NOTIFIER, _keys(events_where(notifies_citizen=True))
    ),
    # The read model follows everything about an application, including events to come.
    event_queue("status.application_events", Service.STATUS, ["application.*", "notification.*"]),
)


def queues_of(owner: Service) -> tuple[WorkQueue, ...]:
    """The work queues one service consumes: its commands' queues, then its event queues."""
    commands = tuple(command_queue(model) for model in commands_of(owner))
    return commands + tuple(queue for queue in EVENT_QUEUES if queue.owner == owner)


ALL_QUEUES = tuple(queue for service in Service for queue in queues_of(service))


def queue_named(name: str) -> WorkQueue:
    for queue in ALL_QUEUES:
        if queue.name == name:
            return queue
    raise KeyError(name)


UNROUTABLE_ARGUMENTS = {"x-queue-type": "quorum"}


async def declare(
    channel: Any, queues: tuple[WorkQueue, ...], exchanges: tuple[str, ...] | None = None
) -> None:
    """Declare the exchanges, the given queues, their parking queues and all bindings.

    ``channel`` is an aio-pika channel; ``exchanges`` default to all of them. Declaring
    ``meter.commands`` declares its alternate exchange and queue too. Idempotent.
    """
    import aio_pika  # local: shared.topology stays importable without a broker client

    names = list(exchanges or EXCHANGES)
    declared = {}
    for name in names:
        spec = EXCHANGE_BY_NAME[name]
        declared[name] = await channel.declare_exchange(
            name, aio_pika.ExchangeType(spec.kind), durable=True, arguments=spec.arguments or None
        )
    if UNROUTABLE_EXCHANGE in declared:
        unroutable = await channel.declare_queue(
            UNROUTABLE_QUEUE, durable=True, arguments=UNROUTABLE_ARGUMENTS
        )
        await unroutable.bind(declared[UNROUTABLE_EXCHANGE], routing_key="")
    for queue in queues:
        work = await channel.declare_queue(queue.name, durable=True, arguments=queue.arguments())
        for exchange, key in queue.bindings:
            await work.bind(declared[exchange], routing_key=key)
        parking = await channel.declare_queue(
            queue.parking_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await parking.bind(declared[DEAD_LETTER_EXCHANGE], routing_key=queue.name)


async def declare_streams(channel: Any, streams: tuple[StreamQueue, ...]) -> None:
    """Declare the given streams and their bindings (idempotent)."""
    import aio_pika

    for stream in streams:
        declared = await channel.declare_queue(
            stream.name, durable=True, arguments=stream.arguments()
        )
        for exchange, key in stream.bindings:
            spec = EXCHANGE_BY_NAME[exchange]
            source = await channel.declare_exchange(
                exchange,
                aio_pika.ExchangeType(spec.kind),
                durable=True,
                arguments=spec.arguments or None,
            )
            await declared.bind(source, routing_key=key)
