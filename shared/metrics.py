"""Prometheus metrics of one service process, served on ``GET /metrics`` (``shared.health``).

Every runtime has a registry of its own, so several services in one test process never
share a counter. The families (each labelled with ``service``):

- ``meter_messages_total{queue,outcome}``: deliveries settled, one outcome each:
  ``handled``, ``refused`` (a coded refusal, ``forbidden`` and ``unauthenticated``
  included), ``malformed`` and ``too_large`` (both answered and parked), ``retried``
  (failed on its own, put back counted), ``parked`` (failed at the limit), ``failed``
  (could not be settled: the broker went away mid-way and redelivers it);
- ``meter_handler_seconds{queue}``: time from reading a body to the handler's outcome;
- ``meter_outbox_backlog``: outbox entries left to the relay (older than its age limit);
- ``meter_outbox_unrouted_total{exchange}``: published entries no queue took (the
  dispatcher's work orders for a team with no queue bound on ``meter.field``);
- ``meter_db_commands_total``: MongoDB commands sent (round trips, ``shared.mongo``);
- ``meter_db_command_seconds``: how long each took to be answered, as the driver saw it
  (the server's queue and work, the network, and any wait of the service's event loop);
- gauges a service adds with ``gauge`` (sampled on scrape) and counters with ``counter``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

log = structlog.get_logger("meter.metrics")

OUTCOMES = ("handled", "refused", "malformed", "too_large", "failed", "retried", "parked")
# Handler outcomes (``Outcome.log["outcome"]``) that are coded refusals.
REFUSALS = frozenset({"refused", "forbidden", "unauthenticated"})
# From a cached read (1 ms) to an outage waited out (minutes).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120)
DB_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 5, 30)

Sample = Callable[[], Awaitable[float]]
Message = TypeVar("Message")
Message_contra = TypeVar("Message_contra", contravariant=True)


class ServiceMetrics:
    """The metrics of one service; gauges added by the service are sampled on scrape.

    A sample is taken at most every ``min_interval`` seconds (several scrapers, or a
    scraper and an operator's curl, cost one round of queries) and may take at most
    ``sample_timeout``; a sample that fails or times out reads NaN until the next one.
    """

    def __init__(
        self, service: str, *, min_interval: float = 5.0, sample_timeout: float = 2.0
    ) -> None:
        self.service = service
        self.min_interval = min_interval
        self.sample_timeout = sample_timeout
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.messages = Counter(
            "meter_messages",
            "Deliveries settled, by queue and outcome",
            ("service", "queue", "outcome"),
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "meter_handler_seconds",
            "Seconds from reading a delivery's body to its handler's outcome",
            ("service", "queue"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "meter_outbox_backlog",
            "Outbox entries left to the relay (not published within its age limit)",
            ("service",),
            registry=self.registry,
        )
        self.outbox_unrouted = Counter(
            "meter_outbox_unrouted",
            "Outbox entries published where no queue is bound to their routing key",
            ("service", "exchange"),
            registry=self.registry,
        )
        self.db_commands = Counter(
            "meter_db_commands",
            "MongoDB commands sent (database round trips), by command and collection",
            ("service", "command"),
            registry=self.registry,
        )
        self.db_seconds = Histogram(
            "meter_db_command_seconds",
            "Seconds a MongoDB command took to be answered, as the driver saw it",
            ("service",),
            buckets=DB_BUCKETS,
            registry=self.registry,
        )
        self._samples: list[tuple[str, Gauge, Sample]] = []
        self._sampled_at: float | None = None
        self._sampling = asyncio.Lock()
        self.outbox_backlog.labels(service).set(0)

    def settled(self, queue: str, outcome: str) -> None:
        """Count one delivery settled with ``outcome`` (one of ``OUTCOMES``)."""
        self.messages.labels(self.service, queue, outcome).inc()

    def handled_in(self, queue: str, seconds: float) -> None:
        self.handler_seconds.labels(self.service, queue).observe(seconds)

    def db_command(self, command: str) -> None:
        self.db_commands.labels(self.service, command).inc()

    def db_answered(self, seconds: float) -> None:
        self.db_seconds.labels(self.service).observe(seconds)

    def outbox(self, backlog: Callable[[], float]) -> None:
        """Report ``backlog()`` (read at each scrape) as the outbox backlog."""
        self.outbox_backlog.labels(self.service).set_function(backlog)

    def unrouted(self, exchange: str) -> None:
        """Count one outbox entry published where no queue took it."""
        self.outbox_unrouted.labels(self.service, exchange).inc()

    def gauge(self, name: str, description: str, sample: Sample) -> None:
        """A gauge whose value ``sample()`` gives, taken when metrics are scraped."""
        self._samples.append((name, Gauge(name, description, registry=self.registry), sample))

    def counter(self, name: str, description: str, labels: Sequence[str] = ()) -> Counter:
        """A counter of the service's own, in this registry (``name`` without ``_total``)."""
        return Counter(name, description, tuple(labels), registry=self.registry)

    async def sample(self) -> None:
        """Refresh the sampled gauges, unless they were refreshed a moment ago."""
        async with self._sampling:
            now = time.monotonic()
            if self._sampled_at is not None and now - self._sampled_at < self.min_interval:
                return
            self._sampled_at = now
            await asyncio.gather(*(self._take(*sampled) for sampled in self._samples))

    async def _take(self, name: str, gauge: Gauge, sample: Sample) -> None:
        try:
            async with asyncio.timeout(self.sample_timeout):
                value = float(await sample())
        except Exception as exc:  # a gauge that cannot be read shows as NaN, never as 0
            log.warning(
                "metric could not be sampled",
                metric=name,
                error=f"{type(exc).__name__}: {exc}",
            )
            value = math.nan
        gauge.set(value)

    async def exposition(self) -> tuple[bytes, str]:
        """The text a Prometheus scrape gets, and its content type."""
        await self.sample()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Provider(Protocol[Message_contra]):
    async def send(self, message: Message_contra, /) -> str | None: ...


class Counted(Generic[Message]):
    """A provider (``async send(message) -> receipt``) whose attempts ``counter`` counts by
    ``channel`` and ``state``: ``sent``, ``failed`` (the provider's error says ``permanent``)
    or ``retried`` (any other error: the job is tried again later)."""

    def __init__(self, provider: _Provider[Message], counter: Counter, channel: str) -> None:
        self.provider = provider
        self.counter = counter
        self.channel = channel

    async def send(self, message: Message, /) -> str | None:
        try:
            receipt = await self.provider.send(message)
        except Exception as exc:
            state = "failed" if getattr(exc, "permanent", False) is True else "retried"
            self.counter.labels(self.channel, state).inc()
            raise
        self.counter.labels(self.channel, "sent").inc()
        return receipt
