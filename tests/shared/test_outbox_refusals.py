"""A message the broker refuses (a nack) holds back only its own document in the outbox
relay: the documents behind it are still published (the real broker).

A queue bound to the events exchange that refuses publishes (``x-max-length`` 0 with
``reject-publish``) stands in for a stream or quorum queue without a leader: RabbitMQ nacks
every message routed to it, while the connection stays up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker
from faststream.rabbit.schemas import Channel

from shared.messaging import Messenger
from shared.outbox import Outbox, message_entry, without_entries

pytestmark = pytest.mark.broker

EXCHANGE = "outbox.test"


class Documents:
    """Outbox documents in memory, all of them left over."""

    name = "documents"

    def __init__(self, *documents: dict[str, Any]) -> None:
        self.stored = {document["_id"]: document for document in documents}

    async def left_over(self, older_than: int, limit: int) -> list[dict[str, Any]]:
        return [document for document in self.stored.values() if document.get("outbox")][:limit]

    async def published(self, document: Mapping[str, Any], message_ids: list[str]) -> None:
        number = document["_id"]
        self.stored[number] = without_entries(self.stored[number], set(message_ids))

    async def flush(self) -> None:
        """Nothing queued."""


def document(number: int, *routing_keys: str) -> dict[str, Any]:
    entries = [message_entry(EXCHANGE, key, "Test", {"n": number}) for key in routing_keys]
    return {"_id": number, "outbox": entries, "outbox_since": 0}


@pytest.fixture
async def channel(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC)
        refusing = await channel.declare_queue(
            "refusing", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        await refusing.bind(exchange, "refused.#")
        taking = await channel.declare_queue("taking")
        await taking.bind(exchange, "#")
        yield channel


@pytest.fixture
async def outbox(rabbitmq_url: str) -> AsyncIterator[Outbox]:
    broker = RabbitBroker(rabbitmq_url, default_channel=Channel(publisher_confirms=True))
    async with broker:
        await broker.start()
        # Held back for 0 s after a refusal: every round tries the refused documents again.
        yield Outbox(Messenger(broker, "test"), min_age=timedelta(0), interval=0)


async def taken(channel: aio_pika.abc.AbstractChannel) -> list[tuple[str, str | None]]:
    """The routing key and message id of each message the accepting queue got."""
    queue = await channel.get_queue("taking")
    messages = []
    while message := await queue.get(no_ack=True, fail=False):
        messages.append((message.routing_key or "", message.message_id))
    return sorted(messages)


def ids(documents: Documents, number: int) -> list[tuple[str, str]]:
    return [(e["routing_key"], e["message_id"]) for e in documents.stored[number]["outbox"]]


async def test_a_refused_document_keeps_its_entries_and_the_next_ones_are_published(
    channel: aio_pika.abc.AbstractChannel, outbox: Outbox
) -> None:
    documents = Documents(
        document(1, "refused.one"),
        document(2, "fine.two", "refused.two", "fine.after"),
        document(3, "fine.three"),
    )
    outbox.watch(documents)
    refused_one, refused_two = ids(documents, 1)[0], ids(documents, 2)[1]
    fine_two, fine_three = ids(documents, 2)[0], ids(documents, 3)[0]

    await outbox.relay_once()

    # Document 1 refused; document 2 up to its refused entry (order kept within a
    # document); document 3, behind both, published all the same. A refused message
    # still reaches the queues that took it: its next publication is a copy that the
    # consumers drop by its message id.
    assert await taken(channel) == sorted([refused_one, fine_two, refused_two, fine_three])
    assert ids(documents, 1) == [refused_one]
    assert [key for key, _ in ids(documents, 2)] == ["refused.two", "fine.after"]
    assert "outbox" not in documents.stored[3]
    assert outbox.backlog == 5

    # Refused again the next round: kept, the same message ids, nothing after them sent.
    assert await outbox.relay_once() == 0
    assert await taken(channel) == sorted([refused_one, refused_two])
    assert outbox.backlog == 3


async def test_a_refused_document_waits_longer_with_each_refusal(
    channel: aio_pika.abc.AbstractChannel, outbox: Outbox
) -> None:
    outbox.interval = 60
    documents = Documents(document(1, "refused.one"), document(2, "fine.two"))
    outbox.watch(documents)
    await outbox.relay_once()
    assert len(await taken(channel)) == 2

    # Within the minute the refused document is left alone; a new one is published.
    documents.stored[3] = document(3, "fine.three")
    await outbox.relay_once()
    assert [key for key, _ in await taken(channel)] == ["fine.three"]
    assert [key for key, _ in ids(documents, 1)] == ["refused.one"]


async def test_a_broken_connection_still_ends_the_round(
    channel: aio_pika.abc.AbstractChannel, outbox: Outbox
) -> None:
    """Not a refusal: with the broker unreachable every document would fail the same way,
    so the round stops at the first (``Outbox.run`` logs it and tries again)."""
    documents = Documents(document(1, "fine.one"), document(2, "fine.two"))
    outbox.watch(documents)
    await outbox.messenger.broker.stop()

    with pytest.raises(Exception) as failure:
        await outbox.relay_once()

    assert not isinstance(failure.value, aio_pika.exceptions.DeliveryError)
    assert all(document.get("outbox") for document in documents.stored.values())
