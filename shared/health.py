"""Liveness, readiness and metrics over HTTP, served inside the service's event loop.

- ``GET /health``: 200 while the process runs (its event loop answers);
- ``GET /ready``: 200 when the broker connection is up, every consumer is consuming and
  the database answers a ping; else 503, the body naming the check that failed:
  ``{"ready": false, "checks": {"broker": "ok", "consumers": "not consuming: ...", ...}}``;
- ``GET /metrics``: Prometheus text (``shared.metrics``).

On ``HEALTH_HOST``:``HEALTH_PORT`` (``shared.settings``). Started before the broker
connects, so a starting service answers ``/health`` and reports itself not ready, and
stopped last on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import structlog
import uvicorn
from faststream.rabbit import RabbitBroker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.metrics import ServiceMetrics

log = structlog.get_logger("meter.health")
OK = "ok"


class Readiness:
    """The three checks of ``/ready``; each answers ``"ok"`` or what is wrong."""

    def __init__(self, broker: RabbitBroker, db: Any, *, timeout: float = 2.0) -> None:
        self.broker = broker
        self.db = db
        self.timeout = timeout

    async def checks(self) -> dict[str, str]:
        broker, consumers, database = await asyncio.gather(
            self._broker(), self._consumers(), self._database()
        )
        return {"broker": broker, "consumers": consumers, "database": database}

    async def _broker(self) -> str:
        # FastStream keeps the aio-pika RobustConnection in ``_connection`` (0.7.8).
        connection = getattr(self.broker, "_connection", None)
        if connection is None:
            return "not connected yet"
        if connection.is_closed or not connection.connected.is_set():
            return f"connection to {connection} lost; reconnecting"
        return OK

    async def _consumers(self) -> str:
        if not self.broker.subscribers:
            return "no consumers"
        stopped = [
            str(getattr(sub, "queue", sub))
            for sub in self.broker.subscribers
            if not await _consuming(sub)
        ]
        return f"not consuming: {', '.join(stopped)}" if stopped else OK

    async def _database(self) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                await self.db.command("ping")
        except Exception as exc:  # every way of not answering is reported
            return f"no answer to ping: {type(exc).__name__}: {exc}"[:300]
        return OK


async def _consuming(subscriber: Any) -> bool:
    """True when the subscriber's consumer is registered on an open channel.

    FastStream 0.7.8 keeps the consumer tag and the aio-pika queue in ``_consumer_tag``
    and ``_queue_obj``; aio-pika restores both after a reconnection.
    """
    tag = getattr(subscriber, "_consumer_tag", None)
    queue = getattr(subscriber, "_queue_obj", None)
    if not getattr(subscriber, "running", False) or tag is None or queue is None:
        return False
    channel = queue.channel
    if channel.is_closed:
        return False
    try:
        underlay = await channel.get_underlay_channel()
    except Exception:  # closed between the two looks
        return False
    return tag in underlay.consumers


def create_health_app(service: str, readiness: Readiness, metrics: ServiceMetrics) -> Starlette:
    async def health(_request: Request) -> Response:
        return JSONResponse({"service": service, "alive": True})

    async def ready(_request: Request) -> Response:
        checks = await readiness.checks()
        is_ready = all(result == OK for result in checks.values())
        body = {"service": service, "ready": is_ready, "checks": checks}
        return JSONResponse(body, status_code=200 if is_ready else 503)

    async def scrape(_request: Request) -> Response:
        text, content_type = await metrics.exposition()
        return Response(text, media_type=content_type)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
    ]
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The FastStream app owns SIGINT/SIGTERM and stops this server on shutdown.
        yield


class HealthServer:
    """Serves the health app on ``host``:``port`` (0: any free port) in this event loop.

    A port that cannot be bound is logged as an error and the service runs on without the
    endpoints (its probes then fail visibly), rather than refusing to process messages.
    """

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        config = uvicorn.Config(
            app, lifespan="off", log_config=None, access_log=False, timeout_graceful_shutdown=1
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        try:
            listener = socket.create_server((self.host, self.requested_port), reuse_port=False)
        except OSError as exc:
            log.error(
                "health endpoints not served: cannot listen (HEALTH_HOST, HEALTH_PORT)",
                host=self.host,
                port=self.requested_port,
                error=str(exc),
            )
            return
        self.port = int(listener.getsockname()[1])
        self._task = asyncio.create_task(self.server.serve(sockets=[listener]))
        log.info("health endpoints", url=f"http://{self.host}:{self.port}", paths=PATHS)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
        self._task = None


PATHS = ["/health", "/ready", "/metrics"]
