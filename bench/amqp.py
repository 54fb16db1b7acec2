"""The benchmark's AMQP clients: request/reply over Direct Reply-to, and an event follower.

Only aio-pika and the contract's message properties, as a portal or field app would send
them: persistent, publisher-confirmed, a unique ``message_id``, ``user_id`` checked by the
broker, ``reply_to`` ``amq.rabbitmq.reply-to`` and a ``correlation_id``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


class BenchFailure(RuntimeError):
    """The system misbehaved (a refused, malformed or missing reply, a lost or duplicated
    notification, an application not completed): the run fails with this text."""


class Rpc:
    """One connection and channel; requests in flight at once, replies by correlation id."""

    def __init__(self, url: str, app_id: str, user_id: str = "guest") -> None:
        self.url = url
        self.app_id = app_id
        self.user_id = user_id
        self.pending: dict[str, asyncio.Future[tuple[Any, float]]] = {}
        self.unmatched = 0  # replies to nothing in flight: a second reply, or one too late

    async def start(self) -> None:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        replies = await self.channel.get_queue(DIRECT_REPLY_TO, ensure=False)
        await replies.consume(self._on_reply, no_ack=True)
        self.commands = await self.channel.get_exchange("meter.commands", ensure=False)

    async def close(self) -> None:
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        received = time.perf_counter()
        future = self.pending.pop(message.correlation_id or "", None)
        if future is None or future.done():
            self.unmatched += 1
            return
        try:
            body = json.loads(message.body)
        except ValueError:
            future.set_exception(BenchFailure(f"a malformed reply (not JSON): {message.body!r}"))
            return
        future.set_result((body, received))

    async def call(
        self, routing_key: str, body: dict[str, Any], message_type: str, within: float
    ) -> tuple[Any, float]:
        """The reply's body and when it arrived (``time.perf_counter``)."""
        correlation_id = str(uuid.uuid4())
        future: asyncio.Future[tuple[Any, float]] = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        try:
            await self.commands.publish(
                aio_pika.Message(
                    json.dumps(body, ensure_ascii=False).encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(uuid.uuid4()),
                    correlation_id=correlation_id,
                    reply_to=DIRECT_REPLY_TO,
                    user_id=self.user_id,
                    app_id=self.app_id,
                    type=message_type,
                    timestamp=time.time(),
                ),
                routing_key=routing_key,
            )
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            raise BenchFailure(
                f"no reply to {routing_key} within {within:.0f}s: {json.dumps(body)[:200]}"
            ) from None
        finally:
            self.pending.pop(correlation_id, None)


class Pool:
    """Several portal connections; calls spread over them in turn."""

    def __init__(self, clients: list[Rpc]) -> None:
        self.clients = clients
        self._next = 0

    async def start(self) -> None:
        await asyncio.gather(*(client.start() for client in self.clients))

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.clients))

    def next(self) -> Rpc:
        self._next = (self._next + 1) % len(self.clients)
        return self.clients[self._next]


Handler = Callable[[str, str, Any, float], Awaitable[None]]


class Follower:
    """An exclusive queue bound to the given (exchange, routing key) pairs; each message is
    handed to ``handler(exchange, routing_key, body, received_at)``, and anything wrong
    with it to ``fail(text)`` (an exception in a consumer would only be logged)."""

    def __init__(
        self,
        url: str,
        bindings: list[tuple[str, str]],
        handler: Handler,
        fail: Callable[[str], None],
    ) -> None:
        self.url = url
        self.bindings = bindings
        self.handler = handler
        self.fail = fail

    async def start(self) -> None:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=256)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for exchange, key in self.bindings:
            await queue.bind(exchange, routing_key=key)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        received = time.perf_counter()
        try:
            body = json.loads(message.body)
            await self.handler(message.exchange or "", message.routing_key or "", body, received)
        except ValueError:
            self.fail(f"a malformed message on {message.exchange} {message.routing_key}")
        except Exception as exc:  # every failure must reach the run, not only a log line
            self.fail(f"handling {message.routing_key}: {type(exc).__name__}: {exc}")

    async def close(self) -> None:
        await self.connection.close()
