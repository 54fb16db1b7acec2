"""A closed work order's published entries wait longer to be taken out than an open one's:
nobody rewrites a closed work order, while another dispatcher may soon rewrite an open one
(and publish again what it still finds in its outbox)."""

from __future__ import annotations

from services.dispatcher.domain import workorders
from services.dispatcher.mongo import MongoDispatcherStore, _clear_wait_of
from shared.outbox import BatchedOutboxDocuments


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
