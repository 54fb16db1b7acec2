"""The broker topology of DESIGN.md section 3, declared once.

Services declare it at start-up (idempotently, through ``declare``);
``shared.definitions`` renders the same objects as a RabbitMQ definitions file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.contracts import routing

DELIVERY_LIMIT = 5

EXCHANGES: dict[str, str] = {
    routing.COMMANDS_EXCHANGE: "direct",
    routing.EVENTS_EXCHANGE: "topic",
    routing.DEAD_LETTER_EXCHANGE: "direct",
}


@dataclass(frozen=True)
class WorkQueue:
    """A quorum work queue with its bindings and its ``<name>.dlq`` parking queue."""

    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    owner: str = field(default="")

    @property
    def parking_queue(self) -> str:
        return f"{self.name}.dlq"

    def arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": routing.DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            # Broker-side dead-lettering (past the delivery limit) must not lose messages.
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


def command_queue(routing_key: str) -> WorkQueue:
    owner = routing_key.split(".", 1)[0]
    return WorkQueue(routing_key, ((routing.COMMANDS_EXCHANGE, routing_key),), owner)


def event_queue(name: str, *keys: str) -> WorkQueue:
    owner = name.split(".", 1)[0]
    return WorkQueue(name, tuple((routing.EVENTS_EXCHANGE, key) for key in keys), owner)


INTAKE_QUEUES = (
    command_queue("intake.list_reasons"),
    command_queue("intake.list_subscriber_accounts"),
    command_queue("intake.check_subscriber"),
    command_queue("intake.submit_application"),
    event_queue(
        "intake.application_closed",
        routing.APPLICATION_COMPLETED,
        routing.APPLICATION_REJECTED,
    ),
)

DISPATCHER_QUEUES = (
    command_queue("dispatcher.report_outcome"),
    command_queue("dispatcher.receive_stock"),
    event_queue("dispatcher.application_registered", routing.APPLICATION_REGISTERED),
)

NOTIFIER_QUEUES = (
    event_queue(
        "notifier.application_events",
        routing.APPLICATION_REGISTERED,
        routing.APPLICATION_FORWARDED,
        routing.APPLICATION_COMPLETED,
        routing.APPLICATION_REJECTED,
    ),
)

STATUS_QUEUES = (
    command_queue("status.get_application"),
    command_queue("status.list_applications"),
    event_queue("status.application_events", "application.*", "notification.*"),
)

ALL_QUEUES = INTAKE_QUEUES + DISPATCHER_QUEUES + NOTIFIER_QUEUES + STATUS_QUEUES


@dataclass(frozen=True)
class StreamQueue:
    """An append-only RabbitMQ stream: kept after reading, replayable from any offset.

    Streams take no delivery limit or dead-lettering, so they are not ``WorkQueue``s.
    """

    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    owner: str = field(default="")

    def arguments(self) -> dict[str, Any]:
        return {"x-queue-type": "stream"}


# Every event ever published, so the status read model can be rebuilt from scratch.
STATUS_ARCHIVE = StreamQueue("status.archive", ((routing.EVENTS_EXCHANGE, "#"),), "status")
STREAM_QUEUES = (STATUS_ARCHIVE,)


def queue_named(name: str) -> WorkQueue:
    for queue in ALL_QUEUES:
        if queue.name == name:
            return queue
    raise KeyError(name)


async def declare(channel: Any, queues: tuple[WorkQueue, ...]) -> None:
    """Declare exchanges, the given queues, their parking queues and all bindings.

    ``channel`` is an aio-pika channel. Every call is idempotent.
    """
    import aio_pika  # local: shared.topology stays importable without a broker client

    exchanges = {}
    for name, kind in EXCHANGES.items():
        exchanges[name] = await channel.declare_exchange(
            name, aio_pika.ExchangeType(kind), durable=True
        )
    for queue in queues:
        declared = await channel.declare_queue(
            queue.name, durable=True, arguments=queue.arguments()
        )
        for exchange, key in queue.bindings:
            await declared.bind(exchanges[exchange], routing_key=key)
        parking = await channel.declare_queue(
            queue.parking_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await parking.bind(exchanges[routing.DEAD_LETTER_EXCHANGE], routing_key=queue.name)


async def declare_streams(channel: Any, streams: tuple[StreamQueue, ...]) -> None:
    """Declare the given streams and their bindings (idempotent)."""
    import aio_pika

    for stream in streams:
        declared = await channel.declare_queue(
            stream.name, durable=True, arguments=stream.arguments()
        )
        for exchange, key in stream.bindings:
            kind = aio_pika.ExchangeType(EXCHANGES[exchange])
            source = await channel.declare_exchange(exchange, kind, durable=True)
            await declared.bind(source, routing_key=key)
