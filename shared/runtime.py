"""What every service's composition root assembles: broker, database, subscribers, relay.

``ServiceRuntime`` holds the adapters; ``build_app`` turns it into a FastStream app whose
start-up declares the topology before consuming and whose shutdown lets in-flight
messages finish (or returns them to the broker) before closing the database. Each runtime
serves ``/health``, ``/ready`` and ``/metrics`` (``shared.health``) from start-up to the end
of shutdown; a service adds its own gauges with ``gauge`` and its outbox with
``track_outbox``. Several broker addresses fail over (``shared.failover``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog
from faststream import AckPolicy, FastStream
from faststream.rabbit import Channel, RabbitQueue
from faststream.rabbit.message import RabbitMessage

from shared import topology
from shared.consuming import ConsumePolicy, consume
from shared.contracts.registry import Service
from shared.failover import FailoverBroker, connect_any
from shared.health import HealthServer, Readiness, create_health_app
from shared.memory import limit_malloc_arenas
from shared.messaging import Messenger
from shared.metrics import Sample, ServiceMetrics
from shared.mongo import make_client
from shared.outbox import Outbox
from shared.routes import Route, Routes
from shared.settings import CommonSettings, SettingsError

log = structlog.get_logger("meter.runtime")


def make_broker(settings: CommonSettings, app_id: str) -> FailoverBroker:
    """A broker with the safe settings of docs/reliability.md set deliberately."""
    return FailoverBroker(
        settings.rabbitmq_urls,
        app_id=app_id,
        graceful_timeout=settings.graceful_timeout,
        default_channel=Channel(prefetch_count=settings.prefetch, publisher_confirms=True),
        ack_policy=AckPolicy.MANUAL,
        reconnect_interval=2.0,
        logger=logging.getLogger(f"faststream.{app_id}"),
        # FastStream's own per-message access lines are debug: ours is the one per message.
        log_level=logging.DEBUG,
        apply_types=False,  # each handler takes the message as it comes (``_the_message``)
    )


async def declare_topology(
    addresses: Sequence[str], queues: Sequence[topology.WorkQueue], service: Service
) -> str:
    """Declare the service's topology through the first address that answers; which."""
    connection, address = await connect_any(addresses)
    try:
        channel = await connection.channel()
        await topology.declare(channel, tuple(queues), topology.SERVICE_EXCHANGES[service])
    finally:
        await connection.close()
    return address


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """The "decoded" body FastStream hands the handler: the message itself. Without
    FastDepends (``apply_types=False``: no dependency model, no task group per message)
    the handler gets what the decoder gives; ``consume`` reads the body itself, so a bad
    body cannot fail before it, and settles the message. A coroutine, so FastStream does
    not hand every message to a thread pool."""
    return message


class ServiceRuntime:
    """The adapters one service process uses."""

    def __init__(self, settings: CommonSettings, service: Service) -> None:
        self.settings = settings
        self.service = service
        self.broker = make_broker(settings, service.value)
        self.messenger = Messenger(self.broker, service.value)
        self.metrics = ServiceMetrics(service.value)
        self.mongo = make_client(
            settings.mongo_url,
            service.value,
            on_command=self.metrics.db_command,
            on_answer=self.metrics.db_answered,
        )
        self.db = self.mongo[settings.database_name(service.value)]
        self.health = HealthServer(
            create_health_app(service.value, Readiness(self.broker, self.db), self.metrics),
            settings.health_host,
            settings.health_port_of(service.value),
        )
        self.queues: list[topology.WorkQueue] = []
        self.routes = Routes(settings.senders())
        self.policy = ConsumePolicy(
            failure_limit=topology.FAILURE_LIMIT,
            retry_base=settings.retry_base_delay,
            outage_base=settings.retry_base_delay,
            max_bytes=settings.max_message_bytes,
            metrics=self.metrics,
        )

    @property
    def broker_url(self) -> str:
        """The broker address in use: for one-off connections of the service's own."""
        return self.broker.address

    def gauge(self, name: str, description: str, sample: Sample) -> None:
        """A gauge on ``/metrics`` whose value ``await sample()`` gives, read on scrape."""
        self.metrics.gauge(name, description, sample)

    def track_outbox(self, outbox: Outbox) -> None:
        """Report the relay's backlog as ``meter_outbox_backlog``, and the entries no queue
        took as ``meter_outbox_unrouted_total``."""
        self.metrics.outbox(lambda: outbox.backlog)
        outbox.when_unrouted(lambda entry: self.metrics.unrouted(str(entry["exchange"])))

    def _subscribe(self, queue_name: str, route: Route) -> None:
        queue = topology.queue_named(queue_name)
        self.queues.append(queue)

        @self.broker.subscriber(
            RabbitQueue(queue.name, declare=False),
            ack_policy=AckPolicy.MANUAL,
            no_reply=True,
            decoder=_the_message,
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
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> FastStream:
        for queue_name, route in self.routes.table.items():
            self._subscribe(queue_name, route)
        app = FastStream(self.broker, logger=logging.getLogger(f"meter.{self.service.value}"))
        tasks: list[asyncio.Task[None]] = []

        @app.on_startup
        async def prepare() -> None:
            self.health.start()  # /health answers, /ready says why not yet
            try:
                address = await declare_topology(self.broker.addresses, self.queues, self.service)
                self.broker.current = self.broker.addresses.index(address)
                if on_start is not None:
                    await on_start()
            except BaseException:
                await self.health.stop()
                raise

        @app.after_startup
        async def start_background() -> None:
            tasks.extend(asyncio.create_task(job()) for job in background)
            log.info(
                "service started",
                queues=[queue.name for queue in self.queues],
                event_loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],
            )

        @app.on_shutdown
        async def stop_background() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if on_stop is not None:
                try:
                    await on_stop()
                except Exception:  # what it would have written is left to housekeeping
                    log.warning("finishing deferred writes failed", exc_info=True)

        @app.after_shutdown
        async def close_database() -> None:
            await self.mongo.close()
            await self.health.stop()
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
    limit_malloc_arenas()  # before any thread: docs/operations.md, "Memory"
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(create_app(settings).run())


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``EVENT_LOOP`` asks for: uvloop's where it is installed, else asyncio's.

    uvloop runs the same coroutines with its socket and timer work in C (libuv): about a
    sixth less CPU per message received and published (docs/performance.md). It is not built
    for every platform; there the standard loop runs, and the service says so at start.
    """
    if choice != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        log.warning("uvloop is not installed: running on the standard asyncio event loop")
        return None
    return uvloop.new_event_loop
