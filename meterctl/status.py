"""``meterctl status rebuild``: rebuild the status read model from the event archive."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from services.status.main import rebuild
from shared.mongo import make_client
from shared.settings import CommonSettings


def add_commands(areas: Any) -> None:
    area = areas.add_parser("status", help="the status read model")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser(
        "rebuild",
        help="rebuild the read model from the status.archive stream (the service may run)",
    )
    command.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="give up when the archive sends nothing for this many seconds",
    )
    command.set_defaults(func=run_rebuild)


def run_rebuild(args: argparse.Namespace, settings: CommonSettings) -> int:
    report = asyncio.run(_rebuild(settings, args.idle_timeout))
    print(json.dumps(report))
    return 0


async def _rebuild(settings: CommonSettings, idle_timeout: float) -> dict[str, int]:
    client = make_client(settings.mongo_url, "meterctl")
    try:
        db = client[settings.database_name("status")]
        return await rebuild(settings.rabbitmq_url, db, idle_timeout)
    finally:
        await client.close()
