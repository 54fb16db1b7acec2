"""What every service's composition root assembles: broker, database, subscribers, relay.

``ServiceRuntime`` holds the adapters; ``build_app`` turns it into a FastStream app whose
start-up declares the topology before consuming and whose shutdown lets in-flight
messages finish (or returns them to the broker) before closing the database.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import aio_pika
import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitBroker, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage

from shared import topology
from shared.consuming import ConsumePolicy, consume
from shared.contracts.registry import Service
from shared.messaging import Messenger
from shared.mongo import make_client
from shared.routes import Route, Routes
from shared.settings import CommonSettings, SettingsError

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


async def declare_topology(
    url: str, queues: Sequence[topology.WorkQueue], service: Service
) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await topology.declare(channel, tuple(queues), topology.SERVICE_EXCHANGES[service])
    finally:
        await connection.close()


async def _raw_body(message: Any) -> bytes:
    # Bodies are read inside ``consume``, so a bad body cannot fail before it; a coroutine,
    # so FastStream does not hand every message to a thread pool.
    return bytes(message.body)


class ServiceRuntime:
    """The adapters one service process uses."""

    def __init__(self, settings: CommonSettings, service: Service) -> None:
        self.settings = settings
        self.service = service
        self.broker = make_broker(settings, service.value)
        self.messenger = Messenger(self.broker, service.value)
        self.mongo = make_client(settings.mongo_url, service.value)
        self.db = self.mongo[settings.database_name(service.value)]
        self.queues: list[topology.WorkQueue] = []
        self.routes = Routes(settings.senders())
        self.policy = ConsumePolicy(
            failure_limit=topology.FAILURE_LIMIT,
            retry_base=settings.retry_base_delay,
            outage_base=settings.retry_base_delay,
            max_bytes=settings.max_message_bytes,
        )

    def _subscribe(self, queue_name: str, route: Route) -> None:
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
                route=route,
                messenger=self.messenger,
                policy=self.policy,
            )

    def build_app(
        self,
        *,
        on_start: Callable[[], Awaitable[None]] | None = None,
        background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> FastStream:
        for queue_name, route in self.routes.table.items():
            self._subscribe(queue_name, route)
        app = FastStream(self.broker, logger=logging.getLogger(f"meter.{self.service.value}"))
        tasks: list[asyncio.Task[None]] = []

        @app.on_startup
        async def prepare() -> None:
            await declare_topology(self.settings.rabbitmq_url, self.queues, self.service)
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


def run_service(
    name: str, settings_class: type[CommonSettings], create_app: Callable[..., FastStream]
) -> None:
    """``python -m services.<name>``: read the settings, run until SIGINT or SIGTERM.

    Bad settings end the process with one clear message per variable, not a traceback.
    """
    try:
        settings = settings_class.from_env()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    asyncio.run(create_app(settings).run())
