"""A field app's view of ``meter.field`` in tests: its own queue bound to its teams' keys."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage


@dataclass
class FieldFeed:
    """Work orders of ``teams`` from ``meter.field``, through an exclusive queue."""

    url: str
    teams: tuple[str, ...]
    received: list[AbstractIncomingMessage] = field(default_factory=list)

    async def __aenter__(self) -> FieldFeed:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            "meter.field", aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for team in self.teams:
            await queue.bind(exchange, routing_key=f"team.{team}")
        await queue.consume(self._on_work_order, no_ack=True)
        return self

    async def _on_work_order(self, message: AbstractIncomingMessage) -> None:
        self.received.append(message)

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(message.body) for message in self.received]

    async def wait_for(self, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} work order(s), got {len(self.received)}")
            await asyncio.sleep(0.05)
        return self.bodies()
