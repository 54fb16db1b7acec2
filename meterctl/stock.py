"""``meterctl stock receive DISTRICT QUANTITY | show``: meters in each district's stock."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from meterctl.teams import with_dispatcher_store
from services.dispatcher.domain.stock import Receipt
from services.dispatcher.store import DispatcherStore
from shared.clock import utc_now
from shared.messaging import new_message_id
from shared.settings import CommonSettings


def add_commands(areas: Any) -> None:
    area = areas.add_parser("stock", help="meter stock per district (dispatcher)")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser("receive", help="add meters received into a district's stock")
    command.add_argument("district")
    command.add_argument("quantity")
    command.add_argument(
        "--receipt",
        help="the receipt's id: the same id within 7 days counts once (default: a new id per call)",
    )
    command.set_defaults(func=run_receive)
    actions.add_parser("show", help="received, reserved, consumed, available").set_defaults(
        func=run_show
    )


def run_receive(args: argparse.Namespace, settings: CommonSettings) -> int:
    district = args.district.strip()
    quantity = args.quantity.strip()
    if not district:
        print("meterctl: DISTRICT is empty", file=sys.stderr)
        return 2
    if not (quantity.isascii() and quantity.isdigit()) or int(quantity) < 1:
        print(
            f"meterctl: QUANTITY must be a positive whole number, got {quantity!r}", file=sys.stderr
        )
        return 2

    receipt = args.receipt or f"meterctl-{new_message_id()}"

    async def receive(store: DispatcherStore) -> Receipt:
        return await store.receive(district, int(quantity), receipt, utc_now())

    got: Receipt = asyncio.run(with_dispatcher_store(settings, receive))
    if got.counted:
        print(f"received {int(quantity)} meter(s) into {district}; {got.in_stock} available")
    else:
        # A receipt sent again adds nothing; the free stock is today's, not the first answer.
        print(
            f"receipt {receipt} was counted before: nothing added to {district}; "
            f"{got.in_stock} available"
        )
    return 0


def run_show(args: argparse.Namespace, settings: CommonSettings) -> int:
    levels = asyncio.run(with_dispatcher_store(settings, lambda store: store.stock_levels()))
    print(f"{'district':<12} {'received':>8} {'reserved':>8} {'consumed':>8} {'available':>9}")
    for level in levels:
        print(
            f"{level.district_code:<12} {level.received:>8} {level.reserved:>8} "
            f"{level.consumed:>8} {level.available:>9}"
        )
    return 0
