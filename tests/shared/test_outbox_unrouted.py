"""A mandatory outbox entry that no queue takes is reported, not silently dropped, and holds
back nothing (the real broker).

The dispatcher's work orders go to ``meter.field`` with the key ``team.<team_id>``; a team
whose field app has bound no queue would never see them. The broker hands such a message
back to a mandatory publication: it is logged and counted (``Outbox.when_unrouted``, exported
as ``meter_outbox_unrouted_total``), removed from its document like any published entry, and
the entries after it are published all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.schemas import Channel
from structlog.testing import capture_logs

from shared.messaging import Messenger
from shared.outbox import Outbox, message_entry
from tests.shared.test_outbox_refusals import Documents

pytestmark = pytest.mark.broker

FIELD = "field.test"


@pytest.fixture
async def team_one(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """The exchange, with a queue bound for team ``one`` only."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(FIELD, aio_pika.ExchangeType.TOPIC)
        queue = await channel.declare_queue("team-one")
        await queue.bind(exchange, "team.one")
        yield queue


@pytest.fixture
async def messenger(rabbitmq_url: str) -> AsyncIterator[Messenger]:
    broker = RabbitBroker(rabbitmq_url, default_channel=Channel(publisher_confirms=True))
    async with broker:
        await broker.start()
        yield Messenger(broker, "test")


async def keys(queue: aio_pika.abc.AbstractQueue) -> list[str]:
    found = []
    while message := await queue.get(no_ack=True, fail=False):
        found.append(message.routing_key or "")
    return found


async def test_a_mandatory_message_no_queue_takes_is_answered_false(
    team_one: aio_pika.abc.AbstractQueue, messenger: Messenger
) -> None:
    common = {"exchange": FIELD, "message_type": "Test"}
    assert await messenger.publish({"n": 1}, routing_key="team.one", mandatory=True, **common)
    assert not await messenger.publish({"n": 2}, routing_key="team.two", mandatory=True, **common)
    # Not mandatory: the broker drops it without a word, as before.
    assert await messenger.publish({"n": 3}, routing_key="team.two", **common)
    assert await keys(team_one) == ["team.one"]


async def test_an_unrouted_entry_is_reported_and_the_entries_after_it_are_published(
    team_one: aio_pika.abc.AbstractQueue, messenger: Messenger
) -> None:
    outbox = Outbox(messenger, min_age=timedelta(0), interval=0)
    reported: list[Mapping[str, Any]] = []
    outbox.when_unrouted(reported.append)
    entries = [
        message_entry(FIELD, "team.two", "Test", {"n": 1}, mandatory=True),
        message_entry(FIELD, "team.one", "Test", {"n": 2}, mandatory=True),
        message_entry(FIELD, "team.three", "Test", {"n": 3}),  # not mandatory: not reported
    ]
    documents = Documents({"_id": 1, "outbox": entries, "outbox_since": 0})
    outbox.watch(documents)

    with capture_logs() as logs:
        assert await outbox.relay_once() == 3

    assert [entry["routing_key"] for entry in reported] == ["team.two"]
    assert reported[0]["message_id"] == entries[0]["message_id"]
    warnings = [log for log in logs if log["log_level"] == "warning"]
    assert [(w["routing_key"], w["message_id"]) for w in warnings] == [
        ("team.two", entries[0]["message_id"])
    ]
    assert await keys(team_one) == ["team.one"]
    assert "outbox" not in documents.stored[1]  # nothing kept back to hold up the document
    assert outbox.backlog == 3  # found left over at the start of the round
    assert await outbox.relay_once() == 0
    assert outbox.backlog == 0


def test_only_a_mandatory_entry_says_so() -> None:
    assert message_entry(FIELD, "team.one", "Test", {}, mandatory=True)["mandatory"] is True
    assert "mandatory" not in message_entry(FIELD, "team.one", "Test", {})
