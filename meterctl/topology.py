"""``meterctl topology definitions``: RabbitMQ definitions generated from the code."""

from __future__ import annotations

import argparse
import json
from typing import Any

from shared.definitions import definitions
from shared.settings import CommonSettings


def add_commands(areas: Any) -> None:
    area = areas.add_parser("topology", help="the broker topology")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser("definitions", help="print RabbitMQ definitions JSON")
    command.add_argument("--vhost", default="/")
    command.set_defaults(func=print_definitions)


def print_definitions(args: argparse.Namespace, settings: CommonSettings) -> int:
    print(json.dumps(definitions(args.vhost), indent=2, ensure_ascii=False))
    return 0
