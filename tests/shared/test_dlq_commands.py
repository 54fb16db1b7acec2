"""``meterctl dlq list | show | replay | purge`` against the real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from meterctl import dlq
from shared.contracts.registry import COMMANDS_EXCHANGE, DEAD_LETTER_EXCHANGE, UNROUTABLE_QUEUE
from shared.messaging import ORIGINAL_APP_ID, ORIGINAL_ROUTING_KEY, ORIGINAL_USER_ID
from shared.topology import ALL_QUEUES, declare
from tests.security.deployment import run_meterctl

pytestmark = pytest.mark.broker
QUEUE = "intake.submit_application"


@pytest.fixture
async def channel(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        opened = await connection.channel(publisher_confirms=True)
        await declare(opened, ALL_QUEUES)
        yield opened


async def park(channel: Any, number: int, queue: str = QUEUE, **headers: Any) -> None:
    """A message parked as a service parks it: its error and validated sender recorded."""
    exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(
            json.dumps({"n": number}).encode(),
            message_id=f"m-{number}",
            headers={
                "x-error": f"failure {number}",
                "x-parked-from": queue,
                "x-parked-at": "2026-11-27T10:00:00+00:00",
                ORIGINAL_ROUTING_KEY: queue,
                ORIGINAL_USER_ID: "portal-egov",
                ORIGINAL_APP_ID: "e-gov-portal",
                "x-meter-failures": 4,
                **headers,
            },
        ),
        routing_key=queue,
    )


async def meterctl(url: str, *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(run_meterctl, {"RABBITMQ_URL": url}, "dlq", *args)


async def test_list_counts_every_parking_queue_and_the_unroutable_one(
    channel: Any, rabbitmq_url: str
) -> None:
    for number in range(3):
        await park(channel, number)
    commands = await channel.get_exchange(COMMANDS_EXCHANGE)
    await commands.publish(aio_pika.Message(b"{}"), routing_key="intake.no_such_command")

    code, out, _ = await meterctl(rabbitmq_url, "list")
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    assert code == 0
    assert rows[f"{QUEUE}.dlq"] == "3"
    assert rows[UNROUTABLE_QUEUE] == "1"
    assert set(rows) >= {queue.parking_queue for queue in ALL_QUEUES}
    assert (await meterctl(rabbitmq_url, "counts"))[1] == out


async def test_show_gives_each_message_its_error_sender_time_and_body_and_leaves_it(
    channel: Any, rabbitmq_url: str
) -> None:
    await park(channel, 1)
    await park(channel, 2)
    code, out, _ = await meterctl(rabbitmq_url, "show", QUEUE, "--limit", "1")
    [shown] = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert shown["error"] == "failure 1"
    assert shown["sender"] == "portal-egov"
    assert shown["routing_key"] == QUEUE
    assert shown["parked_at"] == "2026-11-27T10:00:00+00:00"
    assert shown["body"] == '{"n": 1}'
    assert (await dlq.counts(rabbitmq_url))[f"{QUEUE}.dlq"] == 2


async def test_show_reads_the_unroutable_queue_with_the_broker_validated_sender(
    channel: Any, rabbitmq_url: str
) -> None:
    commands = await channel.get_exchange(COMMANDS_EXCHANGE)
    forged = {ORIGINAL_USER_ID: "portal-esu", ORIGINAL_ROUTING_KEY: QUEUE}
    await commands.publish(
        aio_pika.Message(b'{"a": 1}', user_id="guest", headers=forged),
        routing_key="intake.submit_applicaton",
    )
    [shown] = await dlq.peek(rabbitmq_url, UNROUTABLE_QUEUE, 5)
    assert shown["routing_key"] == "intake.submit_applicaton"
    assert shown["sender"] == "guest"
    assert shown["error"] == "no queue binds this routing key"
    code, _, err = await meterctl(rabbitmq_url, "replay", UNROUTABLE_QUEUE)
    assert code == 2
    assert "no queue" in err


async def test_replay_puts_each_parked_message_back_once_with_its_recorded_sender(
    channel: Any, rabbitmq_url: str
) -> None:
    for number in range(4):
        await park(channel, number)
    work = await channel.get_queue(QUEUE)
    reparked: list[dict[str, Any]] = []

    async def fail_again(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # A service that still fails: every replayed message is parked again at once.
        reparked.append(dict(message.headers or {}))
        await park(channel, 100 + len(reparked))
        await message.ack()

    await work.consume(fail_again)
    code, out, _ = await asyncio.wait_for(meterctl(rabbitmq_url, "replay", QUEUE), 30)
    assert code == 0
    assert out.startswith(f"replayed 4 message(s) into {QUEUE}; "), out
    await asyncio.sleep(0.5)  # the last ones parked again, none replayed a second time
    assert len(reparked) == 4
    assert (await dlq.counts(rabbitmq_url))[f"{QUEUE}.dlq"] == 4
    for headers in reparked:
        assert headers[ORIGINAL_USER_ID] == "portal-egov"
        assert headers[ORIGINAL_APP_ID] == "e-gov-portal"
        assert headers[ORIGINAL_ROUTING_KEY] == QUEUE
        assert headers["x-replayed-from"] == f"{QUEUE}.dlq"
        assert not {"x-error", "x-parked-at", "x-meter-failures"} & set(headers)


async def test_replay_with_a_limit_leaves_the_rest_parked(channel: Any, rabbitmq_url: str) -> None:
    for number in range(3):
        await park(channel, number)
    report = await dlq.replay_parked(rabbitmq_url, f"{QUEUE}.dlq", limit=2)
    assert report == dlq.Replayed(replayed=2, left=1)
    assert (await channel.declare_queue(QUEUE, passive=True)).declaration_result.message_count == 2


async def test_purge_asks_for_yes_then_drops_everything(channel: Any, rabbitmq_url: str) -> None:
    await park(channel, 1)
    code, out, _ = await meterctl(rabbitmq_url, "purge", QUEUE)
    assert code == 2
    assert out.strip() == f"meterctl: {QUEUE}.dlq holds 1 message(s); add --yes to drop them"
    assert (await dlq.counts(rabbitmq_url))[f"{QUEUE}.dlq"] == 1
    code, out, _ = await meterctl(rabbitmq_url, "purge", QUEUE, "--yes")
    assert (code, out.strip()) == (0, f"dropped 1 message(s) from {QUEUE}.dlq")
    assert (await dlq.counts(rabbitmq_url))[f"{QUEUE}.dlq"] == 0


async def test_an_unknown_queue_is_named_with_the_known_ones(rabbitmq_url: str) -> None:
    code, _, err = await meterctl(rabbitmq_url, "show", "intake.nope")
    assert code == 1
    assert "unknown queue 'intake.nope'; known: intake." in err
