"""A closed work order's published entries wait longer to be taken out than an open one's:
nobody rewrites a closed work order, while another dispatcher may soon rewrite an open one
(and publish again what it still finds in its outbox)."""

from __future__ import annotations

from typing import Any

import pytest

from services.dispatcher.domain import workorders
from services.dispatcher.mongo import MongoDispatcherStore, _clear_wait_of
from shared.outbox import BatchedOutboxDocuments
from tests.dispatcher.conftest import Commands


def test_open_work_orders_wait_the_short_wait_and_closed_ones_the_long_one() -> None:
    wait_of = _clear_wait_of(0.02, 0.25)
    assert wait_of is not None
    for status in workorders.OPEN:
        assert wait_of({"_id": "SQ-2026-000001", "status": status}) == 0.02
    for status in workorders.CLOSED:
        assert wait_of({"_id": "SQ-2026-000001", "status": status}) == 0.25
    assert _clear_wait_of(0.02, None) is None  # one wait for all


class FakeDb(dict[str, object]):
    def __missing__(self, name: str) -> object:
        return type("Collection", (), {"name": name})()


def test_the_store_hands_the_waits_to_its_outbox_documents() -> None:
    store = MongoDispatcherStore(FakeDb(), clear_wait=0.02, closed_clear_wait=0.25)
    assert isinstance(store.documents, BatchedOutboxDocuments)
    assert store.documents.wait == 0.02
    assert store.documents.wait_of is not None
    assert store.documents.wait_of({"status": workorders.COMPLETED}) == 0.25


def open_work_order(number: str) -> dict[str, Any]:
    return {
        "_id": number,
        "work_order_id": "WO-" + number.removeprefix("SQ-"),
        "district_code": "BAK-NAS",
        "status": "assigned",
        "team_id": "T-01",
        "sequence": 3,
        "created_at": "2026-11-26T06:00:00.000Z",
        "version": 1,
        "outbox": [{"message_id": "assigned-1"}],
        "outbox_since": 1,
    }


@pytest.mark.store
async def test_a_write_that_lost_only_to_its_own_removal_goes_again_without_a_read(
    counted_db: Any, commands: Commands
) -> None:
    """A report read the work order, then this process took its published entries out
    (version 1 → 2): the report's write, guarded by version 1, goes again at version 2,
    without reading. After any other change it loses, as before."""
    store = MongoDispatcherStore(counted_db, clear_wait=60)  # batches flushed by hand
    assert isinstance(store.documents, BatchedOutboxDocuments)
    collection = counted_db["work_orders"]
    for number in ("SQ-2026-000801", "SQ-2026-000802"):
        await collection.insert_one(open_work_order(number))
    read = {n: await store.work_order(n) for n in ("SQ-2026-000801", "SQ-2026-000802")}
    for work_order in read.values():
        assert work_order is not None
        await store.documents.published(work_order, ["assigned-1"])
    await store.documents.flush()  # both emptied: version 2
    await collection.update_one({"_id": "SQ-2026-000802"}, {"$inc": {"version": 1}})

    closed = {**read["SQ-2026-000801"], "status": "completed", "sequence": 4}  # type: ignore[dict-item]
    with commands.counting():
        assert await store.save_and_publish(closed, [], replacing=read["SQ-2026-000801"])
    assert commands.count == 2, "the write, and the same write one version on; no read"
    stored = await collection.find_one({"_id": "SQ-2026-000801"})
    assert stored is not None
    assert (stored["status"], stored["version"]) == ("completed", 3)
    assert "outbox" not in stored  # the published entry stays out

    other = {**read["SQ-2026-000802"], "status": "completed", "sequence": 4}  # type: ignore[dict-item]
    assert not await store.save_and_publish(other, [], replacing=read["SQ-2026-000802"])
    untouched = await collection.find_one({"_id": "SQ-2026-000802"})
    assert untouched is not None
    assert (untouched["status"], untouched["version"]) == ("assigned", 3)
