"""``meterctl app show NUMBER [--json]``: one application as every service sees it.

Reads each service's database directly (intake's record, the dispatcher's work order, the
notifier's jobs, the status view) and looks through every parking queue (``.dlq``) and
``meter.unroutable`` for messages that name the number. Parked messages are only peeked:
taken unacknowledged and given back when the connection closes, so they stay parked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from typing import Any

import aio_pika

from shared.contracts.commands import NUMBER_PATTERN
from shared.contracts.registry import UNROUTABLE_QUEUE
from shared.failover import connect_any
from shared.mongo import make_client
from shared.settings import CommonSettings
from shared.topology import ALL_QUEUES

Found = dict[str, Any]


def add_commands(areas: Any) -> None:
    area = areas.add_parser("app", help="one application across the services")
    actions = area.add_subparsers(dest="action", required=True)
    show = actions.add_parser(
        "show",
        help="intake record, work order, notifications, status view and parked messages",
    )
    show.add_argument("number", help="the application number, SQ-<year>-<6 digits>")
    show.add_argument("--json", action="store_true", help="one JSON document, for machines")
    show.add_argument(
        "--scan", type=int, default=10_000, help="messages looked at per parking queue"
    )
    show.set_defaults(func=run_show)


def run_show(args: argparse.Namespace, settings: CommonSettings) -> int:
    number = str(args.number).strip().upper()
    if not re.fullmatch(NUMBER_PATTERN, number):
        print(f"meterctl: {args.number!r} is not an application number", file=sys.stderr)
        return 2
    found = asyncio.run(gather(settings, number, args.scan))
    print(
        json.dumps(found, ensure_ascii=False, indent=2, default=str) if args.json else text(found)
    )
    known = any(found[part] for part in ("intake", "dispatcher", "notifier", "status", "parked"))
    if not known:
        print(f"meterctl: no service knows {number}", file=sys.stderr)
    return 0 if known else 1


async def gather(settings: CommonSettings, number: str, scan: int = 10_000) -> Found:
    """What each service holds about ``number``, and the parked messages naming it."""
    client = make_client(settings.mongo_url, "meterctl")

    def collection(service: str, name: str) -> Any:
        return client[settings.database_name(service)][name]

    try:
        intake = await collection("intake", "applications").find_one({"_id": number})
        work_order = await collection("dispatcher", "work_orders").find_one({"_id": number})
        jobs = collection("notifier", "notifications").find({"application_number": number})
        notifications = await jobs.sort([("sequence", 1), ("channel", 1)]).to_list()
        status = await collection("status", "applications").find_one({"_id": number})
    finally:
        await client.close()
    parked = await parked_naming(settings.rabbitmq_urls, number, scan)
    return {
        "application_number": number,
        "intake": intake_part(intake),
        "dispatcher": work_order_part(work_order),
        "notifier": [job_part(job) for job in notifications],
        "status": status_part(status),
        "parked": parked,
    }


def _pick(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: document[name] for name in names if document.get(name) is not None}


def _outbox(document: dict[str, Any]) -> dict[str, Any]:
    pending = document.get("outbox") or []
    return {"outbox_pending": [entry.get("routing_key") for entry in pending]}


def intake_part(document: dict[str, Any] | None) -> Found | None:
    if document is None:
        return None
    fields = ("status", "channel", "subscriber_code", "reason_code", "registered_at", "closed_at")
    return _pick(document, *fields) | _outbox(document)


def work_order_part(document: dict[str, Any] | None) -> Found | None:
    if document is None:
        return None
    fields = (
        *("work_order_id", "status", "district_code", "reason_code", "team_id", "assigned_day"),
        *("meter_reserved", "stock_pending", "outcome", "rejection", "created_at", "updated_at"),
    )
    found = _pick(document, *fields)
    act = document.get("act") or {}
    if act:
        found["act"] = _pick(act, "act_number", "meter_serial")
    return found | _outbox(document)


def job_part(document: dict[str, Any]) -> Found:
    fields = ("event", "channel", "state", "attempts", "next_attempt_at", "last_error", "error")
    return _pick(document, *fields, "updated_at")


def status_part(document: dict[str, Any] | None) -> Found | None:
    if document is None:
        return None
    view = document.get("view")
    if not view:  # events came before the registration: kept, shown to nobody yet
        steps = (document.get("received") or {}).get("steps") or []
        return {"visible": False, "steps_received": [step.get("status") for step in steps]}
    timeline = [step.get("status") for step in reversed(view.get("timeline") or [])]
    return {
        "visible": True,
        **_pick(view, "status", "status_label", "updated_at", "overdue", "due_by"),
        "timeline": timeline,
        "notifications": [
            f"{n.get('event')} {n.get('channel')} {n.get('state')}"
            for n in view.get("notifications") or []
        ],
    }


async def parked_naming(addresses: tuple[str, ...], number: str, scan: int) -> list[Found]:
    """Messages in the parking queues whose body or headers name ``number`` (peeked only)."""
    needle = number.encode()
    names = [queue.parking_queue for queue in ALL_QUEUES] + [UNROUTABLE_QUEUE]
    connection, _ = await connect_any(addresses)
    found: list[Found] = []
    try:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                continue  # its service never ran here
            for _ in range(scan):
                message = await queue.get(no_ack=False, fail=False)
                if message is None:
                    break
                headers = message.headers or {}
                if needle in message.body or needle in repr(headers).encode():
                    found.append(_parked(name, message, headers))
    finally:
        await connection.close()  # every message taken goes back, unacknowledged
    return found


def _parked(queue: str, message: Any, headers: dict[str, Any]) -> Found:
    return {
        "queue": queue,
        "message_id": message.message_id,
        "type": message.type,
        "routing_key": _string(headers.get("x-original-routing-key")) or message.routing_key,
        "error": _string(headers.get("x-error")),
        "parked_at": _string(headers.get("x-parked-at")),
    }


def _string(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def text(found: Found) -> str:
    """The human reading: one block per service."""
    lines = [f"Application {found['application_number']}", ""]

    def block(title: str, rows: list[str]) -> None:
        lines.extend(f"{title if i == 0 else '':<12}{row}" for i, row in enumerate(rows))
        lines.append("")

    def fields(part: Found, *left_out: str) -> str:
        shown = {key: value for key, value in part.items() if key not in left_out}
        return " · ".join(
            f"{key} {' → '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in shown.items()
        )

    def outbox(part: Found) -> str:
        pending = part.get("outbox_pending") or []
        return f"outbox: {', '.join(pending)} not yet published" if pending else "outbox: empty"

    for title in ("intake", "dispatcher"):
        part = found[title]
        block(title, [fields(part, "outbox_pending"), outbox(part)] if part else ["not found"])
    jobs = found["notifier"]
    block("notifier", [fields(job) for job in jobs] if jobs else ["no notifications"])
    status = found["status"]
    if status is None:
        block("status", ["not found"])
    else:
        notified = [f"  {line}" for line in status.get("notifications", [])]
        summary = fields(status, "notifications", "visible")
        if not status["visible"]:
            summary = f"not shown to the citizen yet (no registration received) · {summary}"
        block("status", [summary, *notified])
    parked = found["parked"]
    block("parked", [fields(p) for p in parked] if parked else ["nothing parked names it"])
    return "\n".join(lines).rstrip()
