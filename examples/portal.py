"""A portal talking to the backend over RabbitMQ, with nothing but aio-pika.

    uv run python examples/portal.py reasons
    uv run python examples/portal.py accounts 5ABCD12
    uv run python examples/portal.py submit 5ABCD12 1000001 new_installation \
        "050 123 45 67" me@example.az [--additional]
    uv run python examples/portal.py status 5ABCD12 SQ-2026-000001
    uv run python examples/portal.py list 5ABCD12

Requests go to the ``meter.commands`` exchange with ``reply_to`` set to RabbitMQ's Direct
Reply-to and a ``correlation_id``; the broker user (guest locally) is sent as ``user_id``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import aio_pika

URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@localhost:5672/")
# TLS: an amqps:// URL is verified against RABBITMQ_CA_FILE (aio-pika's cafile parameter).
if os.environ.get("RABBITMQ_CA_FILE") and URL.startswith("amqps://") and "cafile=" not in URL:
    URL += ("&" if "?" in URL else "?") + "cafile=" + os.environ["RABBITMQ_CA_FILE"]
USER = os.environ.get("PORTAL_USER", "guest")


async def request(routing_key: str, body: dict[str, Any], message_type: str) -> Any:
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        replies: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        # Direct Reply-to: consume the pseudo-queue (no-ack) before publishing.
        reply_queue = await channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
        await reply_queue.consume(replies.put, no_ack=True)
        correlation_id = str(uuid.uuid4())
        commands = await channel.get_exchange("meter.commands", ensure=False)
        await commands.publish(
            aio_pika.Message(
                json.dumps(body, ensure_ascii=False).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
                correlation_id=correlation_id,
                reply_to="amq.rabbitmq.reply-to",
                user_id=USER,
                app_id="example-portal",
                type=message_type,
            ),
            routing_key=routing_key,
        )
        while True:
            reply = await asyncio.wait_for(replies.get(), timeout=15)
            if reply.correlation_id == correlation_id:
                return json.loads(reply.body)


def main(argv: list[str]) -> None:
    command, *args = argv or ["reasons"]
    if command == "reasons":
        call = ("intake.list_reasons", {"language": args[0] if args else "az"}, "ListReasons")
    elif command == "accounts":
        call = (
            "intake.list_subscriber_accounts",
            {"applicant_fin": args[0]},
            "ListSubscriberAccounts",
        )
    elif command == "submit":
        fin, code, reason, phone, email, *rest = args
        body = {
            "submission_id": str(uuid.uuid4()),
            "applicant_fin": fin,
            "subscriber_code": code,
            "reason_code": reason,
            "phone": phone,
            "email": email,
            "notes": "",
            "data_confirmed": True,
            "additional_meter_confirmed": "--additional" in rest,
        }
        call = ("intake.submit_application", body, "SubmitApplication")
    elif command == "status":
        call = (
            "status.get_application",
            {"applicant_fin": args[0], "application_number": args[1]},
            "GetApplication",
        )
    elif command == "list":
        call = ("status.list_applications", {"applicant_fin": args[0]}, "ListApplications")
    else:
        raise SystemExit(__doc__)
    reply = asyncio.run(request(*call))
    print(json.dumps(reply, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
