"""``meterctl status rebuild``: rebuild the status read model from the event archive.

Runs as the operations user: it reads the ``status.archive`` stream (which must exist: the
status service declares it) and writes the status database. A progress bar shows on a
terminal; the last line is always the report, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from typing import Any

from meterctl.progress import Advance, progress
from services.status.adapters import archive
from services.status.mongo import MongoRebuild
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
    try:
        report = asyncio.run(_rebuild(settings, args.idle_timeout))
    except RuntimeError as exc:  # the archive is missing or went quiet before the end
        print(f"meterctl: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


async def _rebuild(settings: CommonSettings, idle_timeout: float) -> dict[str, int]:
    client = make_client(settings.mongo_url, "meterctl")
    try:
        with ExitStack() as bars:

            def bar(size: int | None) -> Advance:
                return bars.enter_context(progress("archived events", size))

            db = client[settings.database_name("status")]
            return await archive.rebuild(settings.rabbitmq_url, MongoRebuild(db), idle_timeout, bar)
    finally:
        await client.close()
