"""Connecting to a RabbitMQ cluster through several addresses (``RABBITMQ_URL=a,b,c``).

FastStream's ``RabbitBroker`` takes one URL, and aio-pika's ``RobustConnection`` keeps
reconnecting to its ``url``: when the node behind it is gone, it would retry that node for
ever. ``FailoverBroker`` connects to the first address that answers, then watches the
connection; while it is down it points the connection's ``url`` at the next address every
``reconnect_interval`` seconds. aio-pika's reconnect loop reads ``url`` on each attempt
(``Connection.connect``), and restores the channels, queues and consumers on whichever
node answers: every node of a cluster serves every queue.

Verified against FastStream 0.7.8 and aio-pika 10.2 (``tests/shared/test_failover.py``):
the address of the first connection is FastStream's ``_connection_kwargs["url"]``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import aio_pika
import structlog
from aio_pika import RobustConnection
from faststream.rabbit import RabbitBroker
from yarl import URL

from shared.settings import without_password

log = structlog.get_logger("meter.broker")

# What a node that is down or refuses us raises while connecting.
UNREACHABLE = (ConnectionError, OSError, asyncio.TimeoutError, aio_pika.exceptions.AMQPError)


class FailoverBroker(RabbitBroker):
    """A ``RabbitBroker`` that fails over between the addresses of one cluster's nodes."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        reconnect_interval: float = 2.0,
        watch_interval: float = 0.25,
        **kwargs: Any,
    ) -> None:
        if not addresses:
            raise ValueError("at least one broker address is needed")
        super().__init__(addresses[0], reconnect_interval=reconnect_interval, **kwargs)
        self.addresses = tuple(addresses)
        self.current = 0
        self.reconnect_interval = reconnect_interval
        self.watch_interval = watch_interval
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        """The address in use (or tried next while the connection is down)."""
        return self.addresses[self.current]

    async def _connect(self) -> Any:
        failure: BaseException | None = None
        for offset in range(len(self.addresses)):
            index = (self.current + offset) % len(self.addresses)
            self._connection_kwargs["url"] = self.addresses[index]
            try:
                connection = await super()._connect()
            except UNREACHABLE as exc:
                failure = exc
                log.warning(
                    "broker node does not answer; trying the next",
                    address=without_password(self.addresses[index]),
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            self.current = index
            if len(self.addresses) > 1:
                self._watchdog = asyncio.create_task(self._fail_over(connection))
            return connection
        assert failure is not None
        raise failure

    async def _fail_over(self, connection: RobustConnection) -> None:
        """While the connection is down, move its next attempt to the next address."""
        loop = asyncio.get_running_loop()
        moved_at: float | None = None
        while not connection.is_closed:
            await asyncio.sleep(self.watch_interval)
            if connection.connected.is_set():
                if moved_at is not None:
                    log.info("broker connection restored", address=without_password(self.address))
                moved_at = None
                continue
            if moved_at is not None and loop.time() - moved_at < self.reconnect_interval:
                continue
            self.current = (self.current + 1) % len(self.addresses)
            # Read by the next reconnection attempt; keeps the options aio-pika added.
            address = URL(self.address)
            connection.url = address.with_query({**connection.url.query, **address.query})
            moved_at = loop.time()
            log.warning(
                "broker connection down; next attempt goes to another node",
                address=without_password(self.address),
            )

    async def stop(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            # gather, not suppress: a cancellation of stop() itself still propagates.
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        await super().stop(exc_type, exc_val, exc_tb)


async def connect_any(addresses: Sequence[str]) -> tuple[aio_pika.abc.AbstractConnection, str]:
    """A plain connection to the first address that answers, and that address."""
    failure: BaseException | None = None
    for address in addresses:
        try:
            return await aio_pika.connect(address), address
        except UNREACHABLE as exc:
            failure = exc
    assert failure is not None
    raise failure


async def connect(url: str) -> aio_pika.abc.AbstractConnection:
    """A plain connection for a ``RABBITMQ_URL`` listing one node or several (first answering)."""
    connection, _ = await connect_any([part.strip() for part in url.split(",") if part.strip()])
    return connection
