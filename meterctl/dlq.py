"""Parking queues: list what is parked and why, replay it into its work queue."""

from __future__ import annotations

import json
from typing import Any

import aio_pika

from shared.topology import ALL_QUEUES


def parking_queues() -> list[str]:
    return [queue.parking_queue for queue in ALL_QUEUES]


def _work_queue(name: str) -> str:
    base = name.removesuffix(".dlq")
    if base not in {queue.name for queue in ALL_QUEUES}:
        raise SystemExit(f"unknown queue {name!r}; known: {', '.join(q.name for q in ALL_QUEUES)}")
    return base


async def counts(url: str) -> dict[str, int]:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        found = {}
        for name in parking_queues():
            queue = await channel.declare_queue(name, passive=True)
            found[name] = queue.declaration_result.message_count or 0
        return found
    finally:
        await connection.close()


async def peek(url: str, name: str, limit: int) -> list[dict[str, Any]]:
    """Parked messages with their errors; they stay parked (returned unacknowledged)."""
    parking = _work_queue(name) + ".dlq"
    connection = await aio_pika.connect(url)
    shown: list[dict[str, Any]] = []
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(parking, passive=True)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = message.headers or {}
            death = headers.get("x-death")
            shown.append(
                {
                    "message_id": message.message_id,
                    "type": message.type,
                    "error": _text(headers.get("x-error"))
                    or (f"dead-lettered by the broker: {death}" if death else None),
                    "parked_at": _text(headers.get("x-parked-at")),
                    "body": message.body.decode("utf-8", "replace")[:500],
                }
            )
    finally:
        await connection.close()  # unacknowledged gets go back to the parking queue
    return shown


async def replay(url: str, name: str, limit: int | None = None) -> int:
    """Move parked messages back into their work queue, without the parking headers."""
    work = _work_queue(name)
    connection = await aio_pika.connect(url)
    moved = 0
    try:
        channel = await connection.channel(publisher_confirms=True)
        parking = await channel.declare_queue(work + ".dlq", passive=True)
        while limit is None or moved < limit:
            message = await parking.get(no_ack=False, fail=False)
            if message is None:
                break
            headers = {
                key: value
                for key, value in (message.headers or {}).items()
                if not key.startswith(("x-error", "x-parked", "x-death", "x-first-death",
                                       "x-last-death", "x-delivery-count"))
            }
            headers["x-replayed-from"] = work + ".dlq"
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=headers,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    reply_to=message.reply_to,
                    timestamp=message.timestamp,
                    type=message.type,
                    app_id=message.app_id,
                ),
                routing_key=work,
            )
            await message.ack()
            moved += 1
    finally:
        await connection.close()
    return moved


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def render(rows: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
