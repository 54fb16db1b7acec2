"""What every service's composition root assembles: broker, database, subscribers, relay.

``ServiceRuntime`` holds the adapters; ``build_app`` turns it into a FastStream app whose
start-up declares the topology before consuming and whose shutdown lets in-flight
messages finish (or returns them to the broker) before closing the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aio_pika
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from shared import topology
from shared.consuming import consume
from shared.messaging import Handler, MalformedReply, Messenger
from shared.mongo import make_client
from shared.settings import CommonSettings

log = structlog.get_logger("meter.runtime")


def make_broker(settings: CommonSettings, app_id: str) -> RabbitBroker:
    """A broker with the safe settings of DESIGN.md section 10 set deliberately."""
    return RabbitBroker(
        settings.rabbitmq_url,
        app_id=app_id,
        graceful_timeout=settings.graceful_timeout,
        default_channel=Channel(prefetch_count=settings.prefetch, publisher_confirms=True),
        ack_policy=AckPolicy.MANUAL,
        reconnect_interval=2.0,
        logger=logging.getLogger(f"faststream.{app_id}"),
        # FastStream's own per-message access lines are debug: ours is the one per message.
        log_level=logging.DEBUG,
    )


async def declare_topology(url: str, queues: Sequence[topology.WorkQueue]) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await topology.declare(channel, tuple(queues))
        # Every service declares the event archive, so no event predates it.
        await topology.declare_streams(channel, topology.STREAM_QUEUES)
    finally:
        await connection.close()


def _raw_body(message: Any) -> bytes:
    # Bodies are read by the handlers themselves, so a bad body cannot fail before them.
    return bytes(message.body)


class ServiceRuntime:
    """The adapters one service process uses."""

    def __init__(self, settings: CommonSettings, service: str) -> None:
        self.settings = settings
        self.service = service
        self.broker = make_broker(settings, service)
        self.messenger = Messenger(self.broker, service)
        self.mongo = make_client(settings.mongo_url, service)
        self.db = self.mongo[settings.database_name(service)]
        self.queues: list[topology.WorkQueue] = []

    def subscribe(
        self,
        queue_name: str,
        handler: Handler,
        malformed_reply: MalformedReply | None = None,
    ) -> None:
        queue = topology.queue_named(queue_name)
        self.queues.append(queue)

        @self.broker.subscriber(
            RabbitQueue(queue.name, declare=False),
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=_raw_body,
            title=queue.name,
        )
        async def consume_one(message: RabbitMessage) -> None:
            await consume(
                message,
                queue=queue.name,
                handler=handler,
                messenger=self.messenger,
                malformed_reply=malformed_reply,
                retry_base=self.settings.retry_base_delay,
            )

    def build_app(
        self,
        *,
        on_start: Callable[[], Awaitable[None]] | None = None,
        background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> FastStream:
        app = FastStream(self.broker, logger=logging.getLogger(f"meter.{self.service}"))
        tasks: list[asyncio.Task[None]] = []

        @app.on_startup
        async def prepare() -> None:
            await declare_topology(self.settings.rabbitmq_url, self.queues)
            if on_start is not None:
                await on_start()

        @app.after_startup
        async def start_background() -> None:
            tasks.extend(asyncio.create_task(job()) for job in background)
            log.info("service started", queues=[queue.name for queue in self.queues])

        @app.on_shutdown
        async def stop_background() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        @app.after_shutdown
        async def close_database() -> None:
            await self.mongo.close()
            log.info("service stopped")

        return app
