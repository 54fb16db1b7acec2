"""Published entries are taken out of the outboxes in batches, none left behind."""

from __future__ import annotations

import asyncio
from typing import Any

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
