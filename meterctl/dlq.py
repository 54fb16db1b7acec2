"""Parking queues: list what is parked and why, replay it into its work queue."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import aio_pika

from shared.messaging import ORIGINAL_APP_ID, ORIGINAL_USER_ID
from shared.settings import CommonSettings
from shared.topology import ALL_QUEUES


def add_commands(areas: Any) -> None:
    area = areas.add_parser("dlq", help="parking queues: what is parked and why, replay")
    actions = area.add_subparsers(dest="action", required=True)
    actions.add_parser("counts", help="messages parked in every .dlq queue").set_defaults(
        func=print_counts
    )
    show = actions.add_parser("show", help="print parked messages with their errors")
    show.add_argument("queue", help="a work queue or its .dlq")
    show.add_argument("--limit", type=int, default=20)
    show.set_defaults(func=print_parked)
    again = actions.add_parser("replay", help="move parked messages back into their queue")
    again.add_argument("queue", help="a work queue or its .dlq")
    again.add_argument("--limit", type=int, default=None)
    again.set_defaults(func=run_replay)


def print_counts(args: argparse.Namespace, settings: CommonSettings) -> int:
    for name, count in asyncio.run(counts(settings.rabbitmq_url)).items():
        print(f"{'-' if count is None else count:>6}  {name}")
    return 0


def print_parked(args: argparse.Namespace, settings: CommonSettings) -> int:
    print(render(asyncio.run(peek(settings.rabbitmq_url, args.queue, args.limit))))
    return 0


def run_replay(args: argparse.Namespace, settings: CommonSettings) -> int:
    try:
        moved = asyncio.run(replay(settings.rabbitmq_url, args.queue, args.limit))
    except aio_pika.exceptions.AMQPError as exc:
        print(f"meterctl: the broker refused the replay: {exc}", file=sys.stderr)
        if "user_id" in str(exc):
            print(
                "meterctl: replayed messages keep their sender's user_id; give this broker "
                "user the `impersonator` tag (rabbitmqctl set_user_tags USER administrator "
                "impersonator). The message stays parked.",
                file=sys.stderr,
            )
        return 1
    print(f"replayed {moved} message(s) into {args.queue.removesuffix('.dlq')}")
    return 0


def parking_queues() -> list[str]:
    return [queue.parking_queue for queue in ALL_QUEUES]


def _work_queue(name: str) -> str:
    base = name.removesuffix(".dlq")
    if base not in {queue.name for queue in ALL_QUEUES}:
        raise SystemExit(f"unknown queue {name!r}; known: {', '.join(q.name for q in ALL_QUEUES)}")
    return base


async def counts(url: str) -> dict[str, int | None]:
    """Messages in each parking queue; None for one not declared yet (service not run)."""
    connection = await aio_pika.connect(url)
    try:
        found: dict[str, int | None] = {}
        for name in parking_queues():
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                found[name] = None
                continue
            found[name] = queue.declaration_result.message_count or 0
            await channel.close()
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
                    or (f"dead-lettered by the broker: {death!r}" if death else None),
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
                if not key.startswith(
                    (
                        "x-error",
                        "x-parked",
                        "x-death",
                        "x-first-death",
                        "x-last-death",
                        "x-delivery-count",
                    )
                )
            }
            headers["x-replayed-from"] = work + ".dlq"
            sender = _text(headers.pop(ORIGINAL_USER_ID, None)) or message.user_id
            app_id = _text(headers.pop(ORIGINAL_APP_ID, None)) or message.app_id
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
                    app_id=app_id,
                    # RabbitMQ checks user_id: replaying another user's message needs
                    # the operator's broker user to carry the `impersonator` tag.
                    user_id=sender,
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
