"""No message can stop a consumer: each poison body is answered or parked, and the next valid
query is still answered (over the real broker, on ``status.get_application``)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from meterctl import dlq
from tests.support.amqp import drain

pytestmark = pytest.mark.broker
VALID = {"applicant_fin": "5ABCD12", "application_number": "SQ-2026-000001"}


class RawPortal:
    """Publishes any bytes with any headers and collects the replies by correlation id."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.replies: dict[str, Any] = {}

    async def __aenter__(self) -> RawPortal:
        self.connection = await aio_pika.connect(self.url)
        self.channel = await self.connection.channel(publisher_confirms=True)
        self.queue = await self.channel.declare_queue(exclusive=True, auto_delete=True)
        await self.queue.consume(self._reply, no_ack=True)
        self.commands = await self.channel.get_exchange("meter.commands")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def _reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.replies[message.correlation_id or ""] = json.loads(message.body)

    async def send(self, body: bytes, headers: dict[str, Any] | None = None) -> str:
        correlation_id = str(uuid.uuid4())
        await self.commands.publish(
            aio_pika.Message(
                body,
                headers=headers or {},
                content_type="application/json",
                message_id=str(uuid.uuid4()),
                correlation_id=correlation_id,
                reply_to=self.queue.name,
                user_id="guest",
            ),
            routing_key="status.get_application",
        )
        return correlation_id

    async def reply(self, correlation_id: str, timeout: float = 15.0) -> Any:
        for _ in range(int(timeout / 0.05)):
            if correlation_id in self.replies:
                return self.replies[correlation_id]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no reply to {correlation_id} within {timeout}s")


@pytest.fixture
async def raw_portal(status: Any, rabbitmq_url: str) -> AsyncIterator[RawPortal]:
    async with RawPortal(rabbitmq_url) as portal:
        yield portal


def codes(reply: Any) -> list[str]:
    return [error["code"] for error in reply.get("errors", [])]


async def parked_errors(url: str, count: int) -> list[str]:
    for _ in range(100):
        parked = await dlq.peek(url, "status.get_application", count + 5)
        if len(parked) >= count:
            return [str(entry["error"]) for entry in parked]
        await asyncio.sleep(0.1)
    raise AssertionError("not parked")


async def test_bodies_nested_deep_are_refused_and_parked(
    raw_portal: RawPortal, rabbitmq_url: str
) -> None:
    # 100,000 levels are 200 kB: above the size limit. 30,000 fit and are too deep.
    reply = await raw_portal.reply(await raw_portal.send(b"[" * 100_000 + b"]" * 100_000))
    assert codes(reply) == ["message_too_large"]
    reply = await raw_portal.reply(await raw_portal.send(b"[" * 30_000 + b"]" * 30_000))
    assert codes(reply) == ["malformed_message"]
    errors = await parked_errors(rabbitmq_url, 2)
    assert any("nested 30000 levels" in error for error in errors)
    assert (await raw_portal.reply(await raw_portal.send(json.dumps(VALID).encode())))[
        "outcome"
    ] == "not_found"


async def test_an_integer_of_5000_digits_is_a_wrong_type_not_a_crash(
    raw_portal: RawPortal, rabbitmq_url: str
) -> None:
    body = b'{"applicant_fin": ' + b"7" * 5000 + b', "application_number": "SQ-2026-000001"}'
    reply = await raw_portal.reply(await raw_portal.send(body))
    assert codes(reply) == ["invalid_type"]
    assert (await raw_portal.reply(await raw_portal.send(json.dumps(VALID).encode())))[
        "outcome"
    ] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-delivery-count": "abc"},
        {"x-meter-failures": "many", "x-original-routing-key": 5},
        {"x-original-user-id": 7, "x-death": "not a list", "x-error": ["forged"]},
    ],
    ids=["delivery-count-text", "counters-of-other-types", "forged-origin"],
)
async def test_headers_of_any_type_do_not_stop_the_consumer(
    raw_portal: RawPortal, headers: dict[str, Any]
) -> None:
    reply = await raw_portal.reply(await raw_portal.send(json.dumps(VALID).encode(), headers))
    assert reply == {"outcome": "not_found"}


async def test_a_body_that_is_not_utf8_is_answered_malformed_and_parked(
    raw_portal: RawPortal, rabbitmq_url: str
) -> None:
    reply = await raw_portal.reply(await raw_portal.send(b'{"applicant_fin": "\xff\xfe"}'))
    assert codes(reply) == ["malformed_message"]
    [error] = await parked_errors(rabbitmq_url, 1)
    assert "UTF-8" in error


async def test_a_10_mb_body_is_refused_too_large_and_parked_without_its_body(
    raw_portal: RawPortal, rabbitmq_url: str
) -> None:
    body = json.dumps({**VALID, "notes": "x" * 10_000_000}).encode()
    reply = await raw_portal.reply(await raw_portal.send(body))
    assert codes(reply) == ["message_too_large"]
    parked = await drain(rabbitmq_url, "status.get_application.dlq", timeout=5)
    [message] = parked
    assert message.body == b""
    assert int(message.headers["x-original-size"]) == len(body)
    assert str(message.headers["x-error"]).startswith("message_too_large")


async def test_forty_poison_bodies_do_not_keep_a_valid_query_from_its_answer(
    raw_portal: RawPortal,
) -> None:
    poisons = [
        b"[" * 100_000,
        b"\xff" * 10,
        b'{"applicant_fin": ' + b"9" * 5000 + b"}",
        b"not json",
    ]
    sent = [await raw_portal.send(poisons[index % len(poisons)]) for index in range(40)]
    valid = await raw_portal.send(json.dumps(VALID).encode())
    assert await raw_portal.reply(valid) == {"outcome": "not_found"}
    for correlation_id in sent:
        reply = await raw_portal.reply(correlation_id)
        assert reply["outcome"] == "refused"
