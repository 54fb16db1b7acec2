"""``meterctl teams import FILE | list | waiting``: field teams and the work orders they wait for.

The running dispatcher notices imported teams by itself (it looks for capacity every few
seconds), so waiting work orders are assigned without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from meterctl.csvfile import read_rows
from services.dispatcher import domain
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.reference import TEAM_COLUMNS, team_row
from services.dispatcher.store import DispatcherStore
from shared.clock import utc_now
from shared.mongo import make_client
from shared.settings import CommonSettings


def add_commands(areas: Any) -> None:
    area = areas.add_parser("teams", help="field teams and waiting work orders (dispatcher)")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser("import", help="upsert field teams from a CSV file")
    command.add_argument("file", type=Path)
    command.set_defaults(func=run_import)
    actions.add_parser("list", help="teams with today's load (Asia/Baku day)").set_defaults(
        func=run_list
    )
    actions.add_parser("waiting", help="work orders waiting for a team").set_defaults(
        func=run_waiting
    )


def run_import(args: argparse.Namespace, settings: CommonSettings) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"meterctl: {path}: no such file", file=sys.stderr)
        return 2
    rows, errors = read_rows(path, TEAM_COLUMNS, team_row, key=lambda team: team.team_id)
    if errors:
        for error in errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"meterctl: {len(errors)} bad row(s); nothing imported", file=sys.stderr)
        return 1
    count = asyncio.run(with_dispatcher_store(settings, lambda store: store.upsert_teams(rows)))
    print(f"imported {count} team(s) from {path}")
    return 0


def run_list(args: argparse.Namespace, settings: CommonSettings) -> int:
    day = domain.capacity_day(utc_now())

    async def rows(store: DispatcherStore) -> list[str]:
        teams = await store.teams()
        loads = await store.team_loads(day, [team.team_id for team in teams])
        return [
            f"{team.team_id:<10} {len(loads.get(team.team_id, [])):>3}/{team.daily_capacity:<3} "
            f"{';'.join(team.district_codes):<24} {team.name}"
            for team in teams
        ]

    print(f"Asia/Baku day {day}: work orders assigned / daily capacity")
    print(f"{'team':<10} {'today':>7} {'districts':<24} name")
    for line in asyncio.run(with_dispatcher_store(settings, rows)):
        print(line)
    return 0


def run_waiting(args: argparse.Namespace, settings: CommonSettings) -> int:
    async def rows(store: DispatcherStore) -> list[dict[str, Any]]:
        return await store.work_orders(status="waiting", limit=1000)

    waiting = asyncio.run(with_dispatcher_store(settings, rows))
    for row in waiting:
        print(
            f"{row['work_order_id']}  {row['_id']}  {row['district_code']}  "
            f"since {row['created_at']}"
        )
    print(f"{len(waiting)} work order(s) waiting for a team with capacity")
    return 0


async def with_dispatcher_store(settings: CommonSettings, use: Any) -> Any:
    """Run ``use(store)`` against the dispatcher's database, then close the client."""
    client = make_client(settings.mongo_url, "meterctl")
    try:
        store = MongoDispatcherStore(client[settings.database_name("dispatcher")])
        await store.ensure_indexes()
        return await use(store)
    finally:
        await client.close()
