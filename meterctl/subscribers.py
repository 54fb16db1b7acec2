"""``meterctl subscribers import FILE``: upsert the subscriber directory from CSV.

Every row is checked before anything is written; then the rows are written in batches
(one database round trip each), with a progress bar on a terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from meterctl.csvfile import read_rows
from meterctl.progress import progress
from services.intake.domain import Account
from services.intake.mongo import MongoIntakeStore
from services.intake.reference import SUBSCRIBER_COLUMNS, subscriber_row
from shared.mongo import make_client
from shared.settings import CommonSettings

BATCH = 1000


def add_commands(areas: Any) -> None:
    area = areas.add_parser("subscribers", help="the subscriber directory (intake)")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser("import", help="upsert subscribers from a CSV file")
    command.add_argument("file", type=Path)
    command.set_defaults(func=run_import)


def run_import(args: argparse.Namespace, settings: CommonSettings) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"meterctl: {path}: no such file", file=sys.stderr)
        return 2
    rows, errors = read_rows(
        path, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda row: row.subscriber_code
    )
    if errors:
        for error in errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"meterctl: {len(errors)} bad row(s); nothing imported", file=sys.stderr)
        return 1
    count = asyncio.run(_upsert(settings, rows))
    print(f"imported {count} subscriber(s) from {path}")
    return 0


async def _upsert(settings: CommonSettings, rows: list[Account]) -> int:
    client = make_client(settings.mongo_url, "meterctl")
    written = 0
    try:
        store = MongoIntakeStore(client[settings.database_name("intake")])
        await store.ensure_indexes()
        with progress("subscribers", len(rows)) as advance:
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                written += await store.upsert_subscribers(batch)
                advance(len(batch))
    finally:
        await client.close()
    return written
