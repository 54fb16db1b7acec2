"""Published entries are taken out of the outboxes in batches, none left behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.mongo import make_client
from shared.outbox import BatchedOutboxDocuments


class SlowCollection:
    """Records each bulk write; the first one waits until the test lets it finish."""

    name = "notifications"

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.first_started = asyncio.Event()
        self.first_done = asyncio.Event()

    async def bulk_write(self, writes: list[Any], ordered: bool = False) -> Any:
        self.batches.append(writes)
        if len(self.batches) == 1:
            self.first_started.set()
            await self.first_done.wait()
        return type("Result", (), {"matched_count": len(writes)})()


def document(n: int) -> dict[str, Any]:
    return {"_id": f"job-{n}", "version": 2, "outbox": [{"message_id": f"m-{n}"}]}


async def test_entries_published_while_a_batch_is_written_go_in_the_next_batch() -> None:
    collection = SlowCollection()
    cleared = BatchedOutboxDocuments(collection, wait=0.01)
    await cleared.published(document(1), ["m-1"])
    await asyncio.wait_for(collection.first_started.wait(), 5)  # the first batch is written
    await cleared.published(document(2), ["m-2"])
    await cleared.published(document(3), ["m-3"])
    collection.first_done.set()
    for _ in range(100):  # no further ``published`` call: the same task goes on
        if len(collection.batches) == 2:
            break
        await asyncio.sleep(0.01)
    assert [len(batch) for batch in collection.batches] == [1, 2]
    assert cleared._pending == []


async def test_a_flush_returns_only_once_the_batch_being_written_is_done() -> None:
    """At shutdown ``flush`` takes out what is queued; a batch its own task is writing at
    that moment is waited for too, so nothing is still on its way when it returns."""
    collection = SlowCollection()
    cleared = BatchedOutboxDocuments(collection, wait=0.01)
    await cleared.published(document(1), ["m-1"])
    await asyncio.wait_for(collection.first_started.wait(), 5)  # its task writes it now
    await cleared.published(document(2), ["m-2"])
    flushing = asyncio.create_task(cleared.flush())
    await asyncio.sleep(0.05)
    assert not flushing.done()  # the first batch is still being written
    collection.first_done.set()
    await asyncio.wait_for(flushing, 5)
    assert [len(batch) for batch in collection.batches] == [1, 1]
    assert cleared._pending == []


class Recording:
    """Records each bulk write with the loop time it was made at."""

    name = "work_orders"

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[str]]] = []

    async def bulk_write(self, writes: list[Any], ordered: bool = False) -> Any:
        ids = [write._filter["_id"] for write in writes]
        self.batches.append((asyncio.get_running_loop().time(), ids))
        return type("Result", (), {"matched_count": len(writes)})()


async def test_a_document_with_a_longer_wait_goes_out_with_the_next_batch_due() -> None:
    """A closed document waits its own, longer wait, unless a batch goes out before: it
    rides along (the round trip is made anyway)."""
    collection = Recording()

    def wait_of(document: dict[str, Any]) -> float:
        return 0.3 if document["_id"].startswith("closed") else 0.02

    cleared = BatchedOutboxDocuments(collection, wait=0.02, wait_of=wait_of)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await cleared.published({**document(1), "_id": "closed-1"}, ["m-1"])
    await asyncio.sleep(0.05)
    assert collection.batches == []  # not due yet: 0.3 s
    await cleared.published({**document(2), "_id": "open-2"}, ["m-2"])
    for _ in range(100):
        if collection.batches:
            break
        await asyncio.sleep(0.01)
    [(at, ids)] = collection.batches
    assert ids == ["closed-1", "open-2"]  # both in the batch the open one was due for
    assert at - started < 0.25

    await cleared.published({**document(3), "_id": "closed-3"}, ["m-3"])
    alone = loop.time()
    for _ in range(100):
        if len(collection.batches) == 2:
            break
        await asyncio.sleep(0.02)
    at, ids = collection.batches[1]
    assert ids == ["closed-3"]
    assert at - alone >= 0.29  # its own wait, nothing sooner came
    assert cleared._pending == []


@pytest.fixture
async def collection(mongo_url: str) -> AsyncIterator[Any]:
    client = make_client(mongo_url, "tests")
    database = client[f"t{uuid.uuid4().hex[:10]}_outbox"]
    yield database["documents"]
    await client.drop_database(database.name)
    await client.close()


def stored(n: int, *ids: str) -> dict[str, Any]:
    return {
        "_id": f"doc-{n}",
        "version": 1,
        "outbox": [{"message_id": i} for i in ids],
        "outbox_since": 1,
    }


@pytest.mark.store
async def test_a_batch_with_a_changed_document_still_takes_out_exactly_what_was_published(
    collection: Any,
) -> None:
    batched = BatchedOutboxDocuments(collection, wait=60)  # flushed by hand below
    first, second = stored(1, "a"), stored(2, "b")
    await collection.insert_many([dict(first), dict(second)])
    await batched.published(first, ["a"])
    await batched.published(second, ["b"])
    # Meanwhile another write changed the second and added an entry not yet published
    # (written whole, as the services write: the embedded server's $push of a document
    # into an array stores it as text).
    await collection.replace_one({"_id": "doc-2"}, {**stored(2, "b", "c"), "version": 2})
    assert await batched.left_over(10, 10) == [], "the relay leaves queued documents alone"

    await batched.flush()

    one, two = await collection.find().sort("_id", 1).to_list()
    assert (one.get("outbox") or [], "outbox_since" in one) == ([], False)
    assert [entry["message_id"] for entry in two["outbox"]] == ["c"]
    assert "outbox_since" in two  # c is still to be published: the relay sees it
    assert [d["_id"] for d in await batched.left_over(10, 10)] == ["doc-2"]


async def test_entries_taken_for_a_new_write_leave_the_queue() -> None:
    batched = BatchedOutboxDocuments(SlowCollection(), wait=60)
    await batched.published(document(1), ["m-1"])
    await batched.published(document(2), ["m-2"])

    assert batched.take_published("job-1") == {"m-1"}
    assert batched.take_published("job-1") == set()
    assert [d["_id"] for d, _ in batched._pending] == ["job-2"]
