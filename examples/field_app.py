"""A field team's app, with nothing but aio-pika.

    uv run python examples/field_app.py follow            # print work orders as they are assigned
    uv run python examples/field_app.py report SQ-2026-000001 WO-2026-000001 T-01 installed
    uv run python examples/field_app.py report SQ-2026-000001 WO-2026-000001 T-01 \\
        not_executed unsuitable_water_line

``follow`` keeps a durable queue ``field.demo`` bound to ``application.assigned``, so work
orders assigned while it was not running are printed the next time it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from datetime import datetime, timedelta, timezone

import aio_pika

URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/")
BAKU = timezone(timedelta(hours=4))


async def follow() -> None:
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        events = await channel.get_exchange("meter.events", ensure=False)
        queue = await channel.declare_queue("field.demo", durable=True)
        await queue.bind(events, routing_key="application.assigned")
        print("following application.assigned (Ctrl-C stops)", flush=True)
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    event = json.loads(message.body)
                    print(json.dumps(event, ensure_ascii=False), flush=True)
                    print(
                        "  report: uv run python examples/field_app.py report "
                        f"{event['application_number']} {event['work_order_id']} "
                        f"{event['team_id']} installed",
                        flush=True,
                    )


async def report(number: str, work_order: str, team: str, outcome: str, reason: str) -> None:
    body: dict[str, object] = {
        "application_number": number,
        "work_order_id": work_order,
        "team_id": team,
        "outcome": outcome,
        "comment": "",
    }
    if outcome == "not_executed":
        body["reason_code"] = reason
    else:
        body["act"] = {
            "act_number": f"AKT-{number[3:]}",
            "meter_serial": f"WM-{uuid.uuid4().hex[:8]}",
            "meter_model": "Sensus 620",
            "initial_reading_m3": "0.000",
            "seal_numbers": ["PL-1001"],
            "installed_at": datetime.now(BAKU).isoformat(timespec="seconds"),
            "installer_name": "Rəşad Məmmədov",
        }
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        replies: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        reply_queue = await channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
        await reply_queue.consume(replies.put, no_ack=True)
        commands = await channel.get_exchange("meter.commands", ensure=False)
        await commands.publish(
            aio_pika.Message(
                json.dumps(body, ensure_ascii=False).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
                correlation_id=str(uuid.uuid4()),
                reply_to="amq.rabbitmq.reply-to",
                app_id="example-field-app",
                type="ReportOutcome",
            ),
            routing_key="dispatcher.report_outcome",
        )
        reply = await asyncio.wait_for(replies.get(), timeout=15)
        print(json.dumps(json.loads(reply.body), ensure_ascii=False, indent=2))


def main(argv: list[str]) -> None:
    if argv[:1] == ["follow"]:
        asyncio.run(follow())
    elif argv[:1] == ["report"] and len(argv) >= 5:
        number, work_order, team, outcome = argv[1:5]
        reason = argv[5] if len(argv) > 5 else "unsuitable_water_line"
        asyncio.run(report(number, work_order, team, outcome, reason))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(sys.argv[1:])
