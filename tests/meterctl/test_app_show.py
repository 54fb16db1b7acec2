"""``meterctl app show NUMBER``: the application in each service's database and the parked
messages naming it, which stay parked (real MongoDB-speaking server and broker)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from meterctl.__main__ import main
from shared import topology
from shared.mongo import make_client
from shared.topology import ALL_QUEUES
from tests.support.amqp import consumer_count

NUMBER = "SQ-2026-000042"
OTHER = "SQ-2026-000043"


def parked(body: dict[str, Any], error: str) -> aio_pika.Message:
    return aio_pika.Message(
        json.dumps(body).encode(),
        message_id=str(uuid.uuid4()),
        type="ReportOutcome",
        headers={"x-error": error, "x-parked-at": "2026-11-27T10:00:00+00:00"},
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def message_count(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


@pytest.fixture
async def seeded(rabbitmq_url: str, mongo_url: str) -> AsyncIterator[dict[str, str]]:
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    client = make_client(mongo_url, "tests")
    outbox = [{"routing_key": "application.assigned", "message_id": "m1"}]
    await client[f"{prefix}intake"]["applications"].insert_one(
        {"_id": NUMBER, "status": "open", "channel": "e-gov", "subscriber_code": "1000001"}
        | {"reason_code": "new_installation", "registered_at": "2026-11-27T10:00:00+04:00"}
    )
    await client[f"{prefix}dispatcher"]["work_orders"].insert_one(
        {"_id": NUMBER, "work_order_id": "WO-00AA11BB22CC33DD", "status": "assigned"}
        | {"team_id": "T-01", "district_code": "BAK-NAS", "outbox": outbox}
    )
    await client[f"{prefix}notifier"]["notifications"].insert_many(
        [
            {"_id": f"{NUMBER}:application.registered:email", "application_number": NUMBER}
            | {"event": "application.registered", "channel": "email", "sequence": 1}
            | {"state": "sent", "attempts": 1},
            {"_id": f"{NUMBER}:application.registered:sms", "application_number": NUMBER}
            | {"event": "application.registered", "channel": "sms", "sequence": 1}
            | {"state": "pending", "attempts": 3, "last_error": "HTTP 503 from the gateway"},
        ]
    )
    await client[f"{prefix}status"]["applications"].insert_one(
        {
            "_id": NUMBER,
            "view": {
                "status": "assigned",
                "status_label": "İcraçı təyin edildi",
                "timeline": [{"status": "assigned"}, {"status": "registered"}],
                "notifications": [
                    {"event": "application.registered", "channel": "email", "state": "delivered"}
                ],
            },
        }
    )
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await topology.declare(channel, ALL_QUEUES)
        report = {"application_number": NUMBER, "work_order_id": "WO-00AA11BB22CC33DD"}
        for body, queue in [
            (report, "dispatcher.report_outcome.dlq"),
            ({"application_number": OTHER}, "dispatcher.report_outcome.dlq"),
        ]:
            error = f"failed 5 times; last: RuntimeError: {body['application_number']}"
            await channel.default_exchange.publish(parked(body, error), routing_key=queue)
    yield {"RABBITMQ_URL": rabbitmq_url, "MONGO_URL": mongo_url, "DATABASE_PREFIX": prefix}
    for service in ("intake", "dispatcher", "notifier", "status"):
        await client.drop_database(f"{prefix}{service}")
    await client.close()


@pytest.fixture
def environment(seeded: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in seeded.items():
        monkeypatch.setenv(name, value)
    return seeded


async def test_the_application_is_shown_as_each_service_sees_it_and_parked_ones_stay(
    environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await asyncio.to_thread(main, ["app", "show", NUMBER.lower()]) == 0
    shown = capsys.readouterr().out
    assert f"Application {NUMBER}" in shown
    assert "intake      status open · channel e-gov · subscriber_code 1000001" in shown
    assert "work_order_id WO-00AA11BB22CC33DD · status assigned" in shown
    assert "team_id T-01" in shown
    assert "outbox: application.assigned not yet published" in shown
    assert "state pending · attempts 3 · last_error HTTP 503 from the gateway" in shown
    assert "status      status assigned · status_label İcraçı təyin edildi" in shown
    assert "timeline registered → assigned" in shown
    assert "application.registered email delivered" in shown
    assert "queue dispatcher.report_outcome.dlq" in shown
    assert f"RuntimeError: {NUMBER}" in shown
    assert OTHER not in shown

    url = environment["RABBITMQ_URL"]
    assert await message_count(url, "dispatcher.report_outcome.dlq") == 2
    assert await consumer_count(url, "dispatcher.report_outcome.dlq") == 0


def test_json_gives_the_same_to_machines(
    environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["app", "show", NUMBER, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["intake"]["status"] == "open"
    assert found["dispatcher"]["outbox_pending"] == ["application.assigned"]
    assert [(job["channel"], job["state"]) for job in found["notifier"]] == [
        ("email", "sent"),
        ("sms", "pending"),
    ]
    assert found["status"]["timeline"] == ["registered", "assigned"]
    [message] = found["parked"]
    assert message["queue"] == "dispatcher.report_outcome.dlq"
    assert message["type"] == "ReportOutcome"


def test_a_number_no_service_knows_ends_non_zero_and_a_malformed_one_is_refused(
    environment: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["app", "show", "SQ-2026-999999"]) == 1
    captured = capsys.readouterr()
    assert "intake      not found" in captured.out
    assert "nothing parked names it" in captured.out
    assert "no service knows SQ-2026-999999" in captured.err
    assert main(["app", "show", "42"]) == 2
    assert "'42' is not an application number" in capsys.readouterr().err
