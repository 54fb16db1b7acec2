"""The suite's AMQP clients, written as a portal or field app would: aio-pika only.

``Link`` is one connection with a confirming channel and RabbitMQ's Direct Reply-to. It
connects on first use and again after the broker went away; a request whose connection
was lost or that got no answer in time raises, and the caller sends it again. Answers
to copies of a request (the duplicated-deliveries scenario) arrive after the first one
and go to ``on_late``. ``follow`` keeps a durable queue consumed across broker restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
COMMANDS = "meter.commands"
# Every way the broker can be unreachable or refuse a publication: the caller resends.
BROKER_TROUBLE: tuple[type[Exception], ...] = (
    aio_pika.exceptions.AMQPError,
    ConnectionError,
    OSError,
    RuntimeError,
    TimeoutError,
)


class NoAnswer(Exception):
    """The request was lost with its connection, refused by the broker, or not answered."""


@dataclass(frozen=True)
class Answer:
    body: Any
    type: str | None
    correlation_id: str | None

    @property
    def outcome(self) -> str | None:
        return self.body.get("outcome") if isinstance(self.body, dict) else None

    def text(self) -> str:
        """The summary, with the number of a registration (copies must get the same one)."""
        number = self.body.get("application_number") if isinstance(self.body, dict) else None
        return f"{self.summary()} {number}" if number else self.summary()

    def summary(self) -> str:
        if not isinstance(self.body, dict):
            return "unreadable"
        errors = self.body.get("errors")
        codes = {str(e.get("code")) for e in errors or [] if isinstance(e, dict)}
        return f"{self.outcome}:{','.join(sorted(codes))}" if codes else str(self.outcome)


def decode(message: AbstractIncomingMessage) -> Any:
    """The JSON body, or None: the suite's own clients read the poison bodies too."""
    try:
        return json.loads(message.body)
    except (ValueError, RecursionError):
        return None


@dataclass
class Link:
    url: str
    user_id: str = "guest"
    on_late: Callable[[Answer], None] | None = None
    _connection: AbstractConnection | None = None
    _channel: AbstractChannel | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pending: dict[str, asyncio.Future[Answer]] = field(default_factory=dict)

    async def channel(self) -> AbstractChannel:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            await self._drop()
            connection = await aio_pika.connect(self.url, timeout=5)
            connection.close_callbacks.add(self._lost)
            channel = await connection.channel(publisher_confirms=True)
            replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
            await replies.consume(self._on_reply, no_ack=True)
            self._connection, self._channel = connection, channel
            return channel

    def _lost(self, *_: object) -> None:
        self._channel = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NoAnswer("connection lost"))
        self._pending.clear()

    async def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        answer = Answer(decode(message), message.type, message.correlation_id)
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(answer)
        elif self.on_late is not None:
            self.on_late(answer)

    async def publish(self, exchange: str, routing_key: str, message: aio_pika.Message) -> None:
        """Publish and wait for the broker's confirm; ``NoAnswer`` if it did not confirm."""
        try:
            channel = await self.channel()
            target = await channel.get_exchange(exchange, ensure=False) if exchange else None
            if target is None:
                await channel.default_exchange.publish(message, routing_key, timeout=15)
            else:
                await target.publish(message, routing_key, timeout=15)
        except BROKER_TROUBLE as exc:
            await self.close()
            raise NoAnswer(f"not published: {type(exc).__name__}: {exc}") from exc

    def message(
        self,
        body: bytes,
        *,
        message_type: str,
        message_id: str,
        correlation_id: str,
        headers: dict[str, Any] | None = None,
    ) -> aio_pika.Message:
        return aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            correlation_id=correlation_id,
            reply_to=DIRECT_REPLY_TO,
            user_id=self.user_id,
            app_id="fault-suite",
            type=message_type,
            headers=headers,
        )

    async def request(self, routing_key: str, message: aio_pika.Message, within: float) -> Answer:
        """Send a command and wait for its answer (matched by correlation id)."""
        key = message.correlation_id or ""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self.publish(COMMANDS, routing_key, message)
            return await asyncio.wait_for(future, within)
        except TimeoutError as exc:
            raise NoAnswer(f"no answer within {within:.0f}s") from exc
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a lost connection is the NoAnswer above


async def follow(
    url: str,
    queue_name: str,
    bindings: list[tuple[str, str]],
    handler: Callable[[AbstractIncomingMessage], Awaitable[None]],
) -> None:
    """Consume a durable queue of our own until cancelled, reconnecting after any loss."""
    while True:
        connection: AbstractConnection | None = None
        try:
            connection = await aio_pika.connect(url, timeout=5)
            lost = asyncio.Event()
            connection.close_callbacks.add(lambda *_, gone=lost: gone.set())
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=200)
            queue = await channel.declare_queue(
                queue_name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            for exchange, key in bindings:
                await queue.bind(exchange, routing_key=key)
            await queue.consume(handler)
            await lost.wait()
        except BROKER_TROUBLE:
            pass
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)
        await asyncio.sleep(1.0)
