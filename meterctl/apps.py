"""``meterctl apps overdue [--json] [--today DATE]``: open applications past their due date.

Read from the dispatcher's database (as ``meterctl teams`` does): every work order still
open — waiting for a team or assigned — whose ``due_by`` is before today's Asia/Baku date,
grouped by district and team (``—`` while it waits), with how many calendar days late it
is. Closed and withdrawn applications are never listed. ``application.overdue`` told
operations of each once; this is the list as it stands now.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date
from itertools import groupby
from typing import Any

from meterctl.teams import with_dispatcher_store
from services.dispatcher.domain import deadlines
from services.dispatcher.store import DispatcherStore
from shared.clock import utc_now
from shared.settings import CommonSettings

WAITING_TEAM = "—"  # an application waiting for a team has none yet


def add_commands(areas: Any) -> None:
    area = areas.add_parser("apps", help="applications across the dispatcher's work orders")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser(
        "overdue", help="open applications past their due date, by district and team"
    )
    command.add_argument("--json", action="store_true", help="one JSON document, for machines")
    command.add_argument(
        "--today",
        type=_day,
        help="count as if the Asia/Baku date were this YYYY-MM-DD (default: today)",
    )
    command.add_argument(
        "--limit", type=int, default=10_000, help="list at most this many (earliest due first)"
    )
    command.set_defaults(func=run_overdue)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a YYYY-MM-DD date") from None


def run_overdue(args: argparse.Namespace, settings: CommonSettings) -> int:
    today: date = args.today or deadlines.baku_date(utc_now())
    if args.limit < 1:
        print("meterctl: --limit must be 1 or more", file=sys.stderr)
        return 2

    async def past_due(store: DispatcherStore) -> list[dict[str, Any]]:
        return await store.past_due(today.isoformat(), limit=args.limit)

    found = asyncio.run(with_dispatcher_store(settings, past_due))
    report = overdue_report(found, today)
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else text(report))
    if len(found) >= args.limit:
        print(f"meterctl: only the first {args.limit} are listed (--limit)", file=sys.stderr)
    return 0


def overdue_report(work_orders: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """The overdue work orders grouped by district, then team (waiting ones first)."""
    rows = [
        {
            "application_number": row["_id"],
            "work_order_id": row["work_order_id"],
            "district_code": row["district_code"],
            "team_id": row.get("team_id"),
            "due_by": row["due_by"],
            "days_late": deadlines.days_late(row["due_by"], today),
            "status": row["status"],
        }
        for row in work_orders
    ]

    def group_of(row: dict[str, Any]) -> tuple[str, str]:
        return row["district_code"], row["team_id"] or ""

    rows.sort(key=lambda row: (*group_of(row), row["due_by"], row["application_number"]))
    groups = [
        {
            "district_code": district,
            "team_id": team or None,
            "applications": [
                {key: row[key] for key in row if key not in ("district_code", "team_id")}
                for row in members
            ],
        }
        for (district, team), members in groupby(rows, key=group_of)
    ]
    return {"day": today.isoformat(), "total": len(rows), "groups": groups}


def text(report: dict[str, Any]) -> str:
    lines = [f"Open applications past their due date, Asia/Baku date {report['day']}"]
    for group in report["groups"]:
        lines.append(f"{group['district_code']}  team {group['team_id'] or WAITING_TEAM}")
        lines.extend(
            f"  {row['application_number']}  {row['work_order_id']}  due {row['due_by']}  "
            f"{row['days_late']:>3} day(s) late  {row['status']}"
            for row in group["applications"]
        )
    lines.append(f"{report['total']} overdue application(s)")
    return "\n".join(lines)
