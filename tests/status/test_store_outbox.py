"""The read model's outbox on MongoDB: a portal update is stored in the same write as the
view it follows, published right after it, or by the relay after an outage; a rebuild
stores none for what it re-derives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest

from services.status import domain
from services.status.mongo import MongoRebuild, MongoStatusStore, replace_documents
from services.status.mongo.written import ReadModelOutbox
from shared.contracts.events import Event
from shared.contracts.reading import read_event
from shared.messaging import Messenger
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.status.events import FIN, forwarded, journey, overdue, registered
from tests.support.recording import RecordingMessenger

pytestmark = pytest.mark.store
NUMBER = "SQ-2026-000901"


@pytest.fixture
async def db(mongo_url: str) -> AsyncIterator[Any]:
    client = make_client(mongo_url, "tests")
    database = client[f"t{uuid.uuid4().hex[:10]}_status"]
    yield database
    await client.drop_database(database.name)
    await client.close()


@pytest.fixture
def messenger() -> RecordingMessenger:
    return RecordingMessenger()


@pytest.fixture
async def store(db: Any, messenger: RecordingMessenger) -> MongoStatusStore:
    outbox = Outbox(cast(Messenger, messenger), min_age=timedelta(0))
    found = MongoStatusStore(db["applications"], outbox)
    await found.ensure_indexes()
    return found


async def record(store: MongoStatusStore, key: str, body: dict[str, Any]) -> bool:
    event = read_event(key, body)
    assert event is not None
    fact = domain.fact_of(cast(Event, event))
    return await store.record(fact["application_number"], [fact])


async def test_a_changed_view_is_published_and_nothing_is_left_pending(
    store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    for key, body in journey(NUMBER)[:2]:
        await record(store, key, body)

    assert [(p.exchange, p.routing_key, p.message_type) for p in messenger.published] == [
        ("meter.portal", "e-gov.application_updated", "application_updated")
    ] * 2
    assert [p.body["status"] for p in messenger.published] == ["registered", "forwarded"]
    assert messenger.published[1].body["applicant_fin"] == FIN
    document = await store.applications.find_one({"_id": NUMBER})
    assert "outbox" not in document
    assert "outbox_since" not in document


async def test_a_write_that_changes_no_view_stores_and_publishes_nothing(
    store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    await record(store, "application.forwarded", forwarded(NUMBER))  # no view yet
    await record(store, "application.registered", registered(NUMBER))
    await record(store, "application.overdue", overdue(NUMBER, sequence=3))
    await record(store, "application.overdue", overdue(NUMBER, sequence=4))  # still overdue

    assert [(p.body["status"], p.body["overdue"]) for p in messenger.published] == [
        ("forwarded", False),
        ("forwarded", True),
    ]


async def test_an_update_the_broker_did_not_take_is_relayed_later_and_superseded_by_a_newer(
    store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    assert store.outbox is not None
    messenger.fail = True
    await record(store, "application.registered", registered(NUMBER))
    await record(store, "application.forwarded", forwarded(NUMBER))
    pending = (await store.applications.find_one({"_id": NUMBER}))["outbox"]
    # Portals want the state: the newer view replaced the older one still waiting.
    assert [entry["body"]["status"] for entry in pending] == ["forwarded"]

    messenger.fail = False
    assert await store.outbox.relay_once() == 1

    assert [p.body["status"] for p in messenger.published] == ["forwarded"]
    assert messenger.published[0].message_id == pending[0]["message_id"]
    assert "outbox" not in await store.applications.find_one({"_id": NUMBER})
    assert await store.outbox.relay_once() == 0


async def test_a_rebuild_stores_no_update_for_what_it_re_derives_but_keeps_pending_ones(
    db: Any, store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    messenger.fail = True
    await record(store, "application.registered", registered(NUMBER))  # left pending
    rebuild = MongoRebuild(db)
    await rebuild.begin()
    for key, body in journey(NUMBER)[:2]:
        await record(rebuild.fresh, key, body)

    assert "outbox" not in await rebuild.fresh.applications.find_one({"_id": NUMBER})
    assert await replace_documents(rebuild.fresh.applications, store.applications) == (1, 0)
    swapped = await store.applications.find_one({"_id": NUMBER})
    assert swapped["view"]["status"] == "forwarded"
    assert [entry["body"]["status"] for entry in swapped["outbox"]] == ["registered"]


async def test_the_rebuilds_catch_up_stores_updates_for_the_running_services_relay(
    db: Any, store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    await record(store, "application.registered", registered(NUMBER))
    rebuild = MongoRebuild(db)

    await record(rebuild.live, "application.forwarded", forwarded(NUMBER))

    assert len(messenger.published) == 1  # the rebuild publishes nothing itself
    assert store.outbox is not None
    assert await store.outbox.relay_once() == 1
    assert messenger.published[-1].body["status"] == "forwarded"


async def test_concurrent_writers_publish_the_final_view_and_leave_nothing_pending(
    store: MongoStatusStore, messenger: RecordingMessenger
) -> None:
    await record(store, "application.registered", registered(NUMBER))
    steps = [(key, body) for key, body in journey(NUMBER)[1:]]
    marks = [("application.overdue", overdue(NUMBER, sequence=s)) for s in (5, 6)]

    await asyncio.gather(*(record(store, key, body) for key, body in [*steps, *marks]))

    final = await store.applications.find_one({"_id": NUMBER})
    assert final["view"]["status"] == "completed"
    assert "outbox" not in final
    views = [{k: v for k, v in p.body.items() if k != "applicant_fin"} for p in messenger.published]
    assert final["view"] in views


class SlowCollection:
    """Records each bulk write; the first one waits until the test lets it finish."""

    name = "applications"

    def __init__(self) -> None:
        self.writes: list[list[Any]] = []
        self.first_started = asyncio.Event()
        self.first_done = asyncio.Event()

    async def bulk_write(self, writes: list[Any], ordered: bool = False) -> Any:
        self.writes.append(writes)
        if len(self.writes) == 1:
            self.first_started.set()
            await self.first_done.wait()
        return type("Result", (), {"matched_count": len(writes)})()


async def test_a_flush_returns_only_once_the_removal_being_written_is_done() -> None:
    """At shutdown ``flush`` takes out what is queued; a removal its own task is writing at
    that moment is waited for too, so nothing is still on its way when it returns."""
    collection = SlowCollection()
    removals = ReadModelOutbox(collection, wait=0.01)
    await removals.published({"_id": "SQ-2026-000901", "version": "a"}, ["m-1"])
    await asyncio.wait_for(collection.first_started.wait(), 5)  # its task writes it now
    await removals.published({"_id": "SQ-2026-000902", "version": "b"}, ["m-2"])
    flushing = asyncio.create_task(removals.flush())
    await asyncio.sleep(0.05)
    assert not flushing.done()
    assert removals.published_ids("SQ-2026-000901") == {"m-1"}  # still seen as on its way
    collection.first_done.set()
    await asyncio.wait_for(flushing, 5)
    # Each removal is a pull and the emptying of what it emptied: two writes, one after
    # the other, never both at once.
    assert len(collection.writes) == 4
    assert removals.published_ids("SQ-2026-000901") == set()
    assert removals.published_ids("SQ-2026-000902") == set()
