"""``meterctl``: the operations command line (DESIGN.md section 8).

Configured by the same environment variables as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from meterctl import dlq
from meterctl.csvfile import read_rows
from shared.settings import CommonSettings
from shared.topology import definitions


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="meterctl", description=__doc__)
    commands = parser.add_subparsers(dest="area", required=True)

    subscribers = commands.add_parser("subscribers", help="the subscriber directory (intake)")
    subscribers_actions = subscribers.add_subparsers(dest="action", required=True)
    sub_import = subscribers_actions.add_parser("import", help="upsert subscribers from a CSV file")
    sub_import.add_argument("file", type=Path)

    parked = commands.add_parser("dlq", help="parking queues: what is parked, and replay")
    parked_actions = parked.add_subparsers(dest="action", required=True)
    parked_actions.add_parser("counts", help="messages parked in every .dlq queue")
    show = parked_actions.add_parser("show", help="print parked messages with their errors")
    show.add_argument("queue")
    show.add_argument("--limit", type=int, default=20)
    again = parked_actions.add_parser("replay", help="move parked messages back to work")
    again.add_argument("queue")
    again.add_argument("--limit", type=int, default=None)

    topology = commands.add_parser("topology", help="the broker topology")
    topology_actions = topology.add_subparsers(dest="action", required=True)
    export = topology_actions.add_parser("definitions", help="print RabbitMQ definitions JSON")
    export.add_argument("--vhost", default="/")

    args = parser.parse_args(argv)
    settings = CommonSettings.from_env()
    if args.area == "subscribers":
        return asyncio.run(import_subscribers(settings, args.file))
    if args.area == "dlq":
        if args.action == "counts":
            for name, count in asyncio.run(dlq.counts(settings.rabbitmq_url)).items():
                print(f"{count:6d}  {name}")
            return 0
        if args.action == "show":
            print(dlq.render(asyncio.run(dlq.peek(settings.rabbitmq_url, args.queue, args.limit))))
            return 0
        moved = asyncio.run(dlq.replay(settings.rabbitmq_url, args.queue, args.limit))
        print(f"replayed {moved} message(s) into {args.queue.removesuffix('.dlq')}")
        return 0
    print(json.dumps(definitions(args.vhost), indent=2))
    return 0


async def import_subscribers(settings: CommonSettings, path: Path) -> int:
    from services.intake.directory import SUBSCRIBER_COLUMNS, subscriber_row
    from services.intake.store import MongoIntakeStore
    from shared.mongo import make_client

    if not path.exists():
        print(f"meterctl: {path}: no such file", file=sys.stderr)
        return 2
    rows, errors = read_rows(path, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda row: row["_id"])
    if errors:
        for error in errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"meterctl: {len(errors)} bad row(s); nothing imported", file=sys.stderr)
        return 1
    client = make_client(settings.mongo_url, "meterctl")
    try:
        store = MongoIntakeStore(client[settings.database_name("intake")])
        await store.ensure_indexes()
        count = await store.upsert_subscribers(rows)
    finally:
        await client.close()
    print(f"imported {count} subscriber(s) from {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
