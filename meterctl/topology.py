"""``meterctl topology definitions``: RabbitMQ definitions generated from the code."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import aio_pika

from services.status.adapters.archive import STATUS_ARCHIVE
from shared.definitions import definitions
from shared.settings import CommonSettings
from shared.topology import ALL_QUEUES, declare, declare_streams


def add_commands(areas: Any) -> None:
    area = areas.add_parser("topology", help="the broker topology")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser("definitions", help="print RabbitMQ definitions JSON")
    command.add_argument("--vhost", default="/")
    command.set_defaults(func=print_definitions)
    actions.add_parser(
        "declare", help="declare every exchange, queue and stream on the broker (idempotent)"
    ).set_defaults(func=run_declare)


def deployment_definitions(vhost: str = "/") -> dict[str, Any]:
    """Everything a deployment declares up front: the services' queues and status's archive."""
    return definitions(vhost, streams=(STATUS_ARCHIVE,))


def print_definitions(args: argparse.Namespace, settings: CommonSettings) -> int:
    print(json.dumps(deployment_definitions(args.vhost), indent=2, ensure_ascii=False))
    return 0


def run_declare(args: argparse.Namespace, settings: CommonSettings) -> int:
    asyncio.run(declare_everything(settings.rabbitmq_url))
    print(f"declared {len(ALL_QUEUES)} work queues, their parking queues and {STATUS_ARCHIVE.name}")
    return 0


async def declare_everything(url: str) -> None:
    """The whole topology, so that no event is published before the archive exists."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare(channel, ALL_QUEUES)
        await declare_streams(channel, (STATUS_ARCHIVE,))
