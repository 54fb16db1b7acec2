"""``meterctl dlq list | show | replay | purge``: parked messages and ``meter.unroutable``.

- ``list`` (alias ``counts``): messages in every parking queue and in ``meter.unroutable``;
- ``show QUEUE``: each message with its error, validated sender, parked time and the start
  of its body (they stay where they are);
- ``replay QUEUE``: takes the count at the start and puts that many messages back into
  their work queue, each once: messages parked again during the run wait for the next
  replay. A replayed message goes straight into the work queue through the default
  exchange with its recorded routing key and sender (``meterctl.parking``), which the
  service believes there and nowhere else; the operator needs no ``impersonator`` tag;
- ``purge QUEUE --yes``: drop them.

QUEUE is a work queue, its ``.dlq``, or ``meter.unroutable`` (show and purge only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aio_pika
import aiormq

from meterctl.parking import describe, replay_headers
from shared import failover
from shared.contracts.registry import UNROUTABLE_QUEUE
from shared.settings import CommonSettings
from shared.topology import ALL_QUEUES

T = TypeVar("T")


def add_commands(areas: Any) -> None:
    area = areas.add_parser("dlq", help="parked messages and meter.unroutable: see, replay, purge")
    actions = area.add_subparsers(dest="action", required=True)
    for name in ("list", "counts"):
        actions.add_parser(
            name, help="messages in every .dlq queue and in meter.unroutable"
        ).set_defaults(func=print_counts)
    show = actions.add_parser("show", help="parked messages with error, sender, time and body")
    show.add_argument("queue", help="a work queue, its .dlq, or meter.unroutable")
    show.add_argument("--limit", type=_positive, default=20)
    show.set_defaults(func=print_parked)
    again = actions.add_parser("replay", help="put parked messages back into their queue, once")
    again.add_argument("queue", help="a work queue or its .dlq")
    again.add_argument("--limit", type=_positive, default=None, help="at most this many")
    again.set_defaults(func=run_replay)
    purge = actions.add_parser("purge", help="drop every message of a parking queue")
    purge.add_argument("queue", help="a work queue, its .dlq, or meter.unroutable")
    purge.add_argument("--yes", action="store_true", help="really drop them")
    purge.set_defaults(func=run_purge)


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1 up, got {value!r}")
    return int(value)


def parking_queues() -> list[str]:
    return [queue.parking_queue for queue in ALL_QUEUES] + [UNROUTABLE_QUEUE]


def held_in(name: str) -> str:
    """The queue holding parked messages for ``name``: ``<work queue>.dlq`` or unroutable."""
    if name == UNROUTABLE_QUEUE:
        return name
    base = name.removesuffix(".dlq")
    if base not in {queue.name for queue in ALL_QUEUES}:
        known = ", ".join([queue.name for queue in ALL_QUEUES] + [UNROUTABLE_QUEUE])
        raise SystemExit(f"meterctl: unknown queue {name!r}; known: {known}")
    return f"{base}.dlq"


def print_counts(args: argparse.Namespace, settings: CommonSettings) -> int:
    found = _answered(counts(settings.rabbitmq_url))
    for name, count in found.items():
        print(f"{'-' if count is None else count:>7}  {name}")
    total = sum(count or 0 for count in found.values())
    print(f"{total:>7}  in all ('-': not declared yet)")
    return 0


def print_parked(args: argparse.Namespace, settings: CommonSettings) -> int:
    shown = _answered(peek(settings.rabbitmq_url, args.queue, args.limit))
    for row in shown:
        print(json.dumps(row, ensure_ascii=False))
    print(f"{len(shown)} message(s) shown from {held_in(args.queue)}", file=sys.stderr)
    return 0


def run_replay(args: argparse.Namespace, settings: CommonSettings) -> int:
    if held_in(args.queue) == UNROUTABLE_QUEUE:
        print(
            f"meterctl: {UNROUTABLE_QUEUE} holds commands with a routing key no queue binds; "
            "there is no queue to replay them into (show, then purge)",
            file=sys.stderr,
        )
        return 2
    report = _answered(replay_parked(settings.rabbitmq_url, args.queue, args.limit))
    work = held_in(args.queue).removesuffix(".dlq")
    print(f"replayed {report.replayed} message(s) into {work}; {report.left} left parked")
    return 0


def run_purge(args: argparse.Namespace, settings: CommonSettings) -> int:
    name = held_in(args.queue)
    if not args.yes:
        count = _answered(counts(settings.rabbitmq_url)).get(name)
        print(f"meterctl: {name} holds {count or 0} message(s); add --yes to drop them")
        return 2
    dropped = _answered(purge(settings.rabbitmq_url, args.queue))
    print(f"dropped {dropped} message(s) from {name}")
    return 0


def _answered(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; the broker's refusals end meterctl with one clear line."""
    try:
        return asyncio.run(work)
    except aio_pika.exceptions.ChannelNotFoundEntity as exc:
        raise SystemExit(f"meterctl: no such queue yet (has its service run?): {exc}") from None
    except aiormq.exceptions.ChannelAccessRefused as exc:
        raise SystemExit(f"meterctl: the broker refused this user: {exc}") from None
    except aio_pika.exceptions.DeliveryError as exc:
        raise SystemExit(
            f"meterctl: the work queue took nothing (is it declared?); the message stays "
            f"parked: {exc}"
        ) from None


async def counts(url: str) -> dict[str, int | None]:
    """Messages in each parking queue and meter.unroutable; None for one not declared yet."""
    connection = await failover.connect(url)
    found: dict[str, int | None] = {}
    try:
        for name in parking_queues():
            # A queue not found closes its channel: one channel per queue.
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                found[name] = None
                continue
            found[name] = queue.declaration_result.message_count or 0
            await channel.close()
    finally:
        await connection.close()
    return found


async def peek(url: str, name: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` messages described; they stay (unacknowledged until we close)."""
    held = held_in(name)
    connection = await failover.connect(url)
    shown: list[dict[str, Any]] = []
    try:
        queue = await (await connection.channel()).declare_queue(held, passive=True)
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            shown.append(describe(message, straight_from_sender=held == UNROUTABLE_QUEUE))
    finally:
        await connection.close()  # what was taken goes back, in its order
    return shown


@dataclass(frozen=True)
class Replayed:
    replayed: int
    left: int  # still parked afterwards, including any parked again meanwhile


async def replay_parked(url: str, name: str, limit: int | None = None) -> Replayed:
    """Replay what is parked at the start (at most ``limit``), each message once."""
    held = held_in(name)
    work = held.removesuffix(".dlq")
    connection = await failover.connect(url)
    replayed = 0
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        parking = await channel.declare_queue(held, passive=True)
        snapshot = parking.declaration_result.message_count or 0
        for _ in range(snapshot if limit is None else min(limit, snapshot)):
            message = await parking.get(no_ack=False, fail=False)
            if message is None:
                break
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=replay_headers(message, held),
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    reply_to=message.reply_to,
                    timestamp=message.timestamp,
                    type=message.type,
                    app_id="meterctl",
                ),
                routing_key=work,
                mandatory=True,  # a missing work queue fails the replay; the message stays
            )
            await message.ack()
            replayed += 1
        left = (await channel.declare_queue(held, passive=True)).declaration_result.message_count
    finally:
        await connection.close()
    return Replayed(replayed, left or 0)


async def replay(url: str, name: str, limit: int | None = None) -> int:
    """How many messages ``replay_parked`` put back."""
    return (await replay_parked(url, name, limit)).replayed


async def purge(url: str, name: str) -> int:
    """Drop every message of a parking queue (or meter.unroutable); how many."""
    connection = await failover.connect(url)
    try:
        queue = await (await connection.channel()).declare_queue(held_in(name), passive=True)
        result = await queue.purge()
        return int(result.message_count or 0)
    finally:
        await connection.close()
