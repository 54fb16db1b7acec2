"""Watches every event on ``meter.events``; in the duplication scenario, copies them.

The log keeps, per application, the subscriber codes its ``application.registered``
events named and the work orders its ``application.assigned`` events named (two work
orders for one application is an effect done twice), and counts ``notification.failed``.

With ``duplicate`` on, every event seen for the first time is published once more,
identical (same ``message_id``, type, headers), 0.5 to 8 seconds later in random order, so
the services get copies out of order (an ``application.registered`` after its completion).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from faults.amqp import Link, NoAnswer, decode, follow

QUEUE = "faults.events"
EVENTS = "meter.events"


@dataclass
class EventLog:
    url: str
    link: Link
    duplicate: bool = False
    copy_delay: tuple[float, float] = (0.5, 8.0)  # seconds after the original, at random
    registered: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    work_orders: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    counts: Counter[str] = field(default_factory=Counter)
    copies_published: int = 0
    copies_failed: int = 0
    _seen: set[str] = field(default_factory=set)
    _pool: list[tuple[float, str, aio_pika.Message]] = field(default_factory=list)

    async def run(self) -> None:
        copier = asyncio.create_task(self._copy_batches())
        try:
            await follow(self.url, QUEUE, [(EVENTS, "#")], self._on_event)
        finally:
            copier.cancel()

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        body = decode(message)
        self.counts[key] += 1
        if isinstance(body, dict):
            number = str(body.get("application_number"))
            if key == "application.registered":
                self.registered[number].add(str(body.get("subscriber_code")))
            elif key == "application.assigned":
                self.work_orders[number].add(str(body.get("work_order_id")))
        first = message.message_id not in self._seen
        if message.message_id:
            self._seen.add(message.message_id)
        if self.duplicate and first:
            due = asyncio.get_running_loop().time() + random.uniform(*self.copy_delay)  # noqa: S311
            self._pool.append((due, key, self._copy(message)))
        await message.ack()

    def _copy(self, message: AbstractIncomingMessage) -> aio_pika.Message:
        return aio_pika.Message(
            message.body,
            content_type=message.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            app_id=message.app_id,
            user_id=message.user_id if message.user_id == self.link.user_id else None,
            headers=dict(message.headers or {}),
        )

    async def _copy_batches(self) -> None:
        """Twice a second, publish the copies that are due, in a random order."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            now = loop.time()
            due = [entry for entry in self._pool if entry[0] <= now]
            self._pool = [entry for entry in self._pool if entry[0] > now]
            random.shuffle(due)
            for _, key, copy in due:
                try:
                    await self.link.publish(EVENTS, key, copy)
                    self.copies_published += 1
                except NoAnswer:
                    self.copies_failed += 1

    def pending_copies(self) -> int:
        return len(self._pool)
