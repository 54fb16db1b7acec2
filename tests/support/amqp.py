"""A portal, field app or observer speaking only AMQP (aio-pika), no project code."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage


@dataclass
class Reply:
    body: Any
    message: AbstractIncomingMessage

    @property
    def outcome(self) -> str | None:
        return self.body.get("outcome") if isinstance(self.body, dict) else None

    def codes(self) -> list[str]:
        return [error["code"] for error in self.body.get("errors", [])]


class Portal:
    """Publishes commands on ``meter.commands`` and reads replies on its own queue."""

    def __init__(self, url: str, user_id: str | None = "guest") -> None:
        self.url = url
        self.user_id = user_id
        self.pending: dict[str, asyncio.Future[Reply]] = {}

    async def __aenter__(self) -> Portal:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.reply_queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await self.reply_queue.consume(self._on_reply, no_ack=True)
        self.commands = await self.channel.get_exchange("meter.commands")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self.pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            try:
                body = json.loads(message.body)
            except ValueError:
                body = message.body
            future.set_result(Reply(body, message))

    async def send(
        self,
        routing_key: str,
        body: Any,
        *,
        reply: bool = True,
        message_id: str | None = None,
        user_id: str | bool | None = True,
        message_type: str | None = None,
    ) -> str:
        correlation_id = str(uuid.uuid4())
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        sender = self.user_id if user_id is True else (user_id or None)
        message = aio_pika.Message(
            payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            reply_to=self.reply_queue.name if reply else None,
            user_id=sender,
            app_id="test-portal",
            type=message_type,
        )
        if reply:
            self.pending[correlation_id] = asyncio.get_running_loop().create_future()
        await self.commands.publish(message, routing_key=routing_key)
        return correlation_id

    async def request(self, routing_key: str, body: Any, timeout: float = 15.0, **kw: Any) -> Reply:
        correlation_id = await self.send(routing_key, body, **kw)
        return await asyncio.wait_for(self.pending[correlation_id], timeout)


@dataclass
class EventLog:
    """Collects events from ``meter.events`` through its own exclusive queue."""

    url: str
    patterns: tuple[str, ...] = ("#",)
    received: list[AbstractIncomingMessage] = field(default_factory=list)

    async def __aenter__(self) -> EventLog:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            "meter.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        self.queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for pattern in self.patterns:
            await self.queue.bind(exchange, routing_key=pattern)
        await self.queue.consume(self._on_event, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        self.received.append(message)

    def bodies(self, routing_key: str | None = None) -> list[dict[str, Any]]:
        return [
            json.loads(message.body)
            for message in self.received
            if routing_key is None or message.routing_key == routing_key
        ]

    async def wait_for(
        self, routing_key: str, count: int = 1, timeout: float = 15.0
    ) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.bodies(routing_key)) < count:
            if asyncio.get_running_loop().time() > deadline:
                got = len(self.bodies(routing_key))
                raise AssertionError(
                    f"expected {count} {routing_key} event(s), got {got}: "
                    f"{[m.routing_key for m in self.received]}"
                )
            await asyncio.sleep(0.05)
        return self.bodies(routing_key)


async def drain(url: str, queue: str, timeout: float = 2.0) -> list[AbstractIncomingMessage]:
    """Take every message now in ``queue`` (acknowledging them)."""
    connection = await aio_pika.connect(url)
    taken: list[AbstractIncomingMessage] = []
    try:
        channel = await connection.channel()
        declared = await channel.get_queue(queue, ensure=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            message = await declared.get(no_ack=False, fail=False)
            if message is None:
                if taken:
                    break
                await asyncio.sleep(0.1)
                continue
            await message.ack()
            taken.append(message)
    finally:
        await connection.close()
    return taken


class EventPublisher:
    """Publishes events on ``meter.events`` as a producer would (persistent, confirmed)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> EventPublisher:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel(publisher_confirms=True)
        self.exchange = await channel.declare_exchange(
            "meter.events", aio_pika.ExchangeType.TOPIC, durable=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def publish(
        self,
        routing_key: str,
        body: dict[str, Any] | bytes,
        message_id: str | None = None,
        correlation_id: str | None = None,
    ) -> str:
        message_id = message_id or str(uuid.uuid4())
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.exchange.publish(
            aio_pika.Message(
                payload,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                correlation_id=correlation_id,
                type=routing_key,
                app_id="test-producer",
            ),
            routing_key=routing_key,
        )
        return message_id


async def publish_event(url: str, routing_key: str, body: dict[str, Any]) -> str:
    """One event on ``meter.events``, over a connection of its own."""
    async with EventPublisher(url) as publisher:
        return await publisher.publish(routing_key, body)


async def consumer_count(url: str, queue: str) -> int:
    """How many consumers ``queue`` has; 0 while nobody has declared it yet."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return 0
        return int(declared.declaration_result.consumer_count or 0)


async def wait_until_consumed(url: str, queue: str, timeout: float = 30.0) -> None:
    """Wait until a service consumes ``queue`` (services declare their topology at start)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while await consumer_count(url, queue) == 0:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"nothing consumes {queue} after {timeout}s")
        await asyncio.sleep(0.1)
