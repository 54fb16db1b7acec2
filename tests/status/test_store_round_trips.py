"""What makes the read model's writes cheap, counted in database round trips (never timed):
the copy this process wrote last stands in for a read, an application it has no copy of is
inserted before it is looked for, writes made together go out together, and published
portal updates leave the outboxes in batches or with the next write; a copy made stale by
another writer costs a read, never a fact."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import pytest

from services.status.mongo import MongoStatusStore
from shared.messaging import Messenger
from shared.mongo import make_client
from shared.outbox import CLEAR_WAIT, Outbox
from tests.status.events import assigned, forwarded, journey, notified, registered
from tests.status.test_store_outbox import record
from tests.support.recording import RecordingMessenger

pytestmark = pytest.mark.store


@pytest.fixture
async def counted(mongo_url: str) -> AsyncIterator[tuple[Any, list[int]]]:
    """A fresh database whose client counts every command it sends."""
    sent: list[int] = []
    client = make_client(mongo_url, "tests", on_command=lambda _name: sent.append(1))
    db = client[f"t{uuid.uuid4().hex[:10]}_status"]
    yield db, sent
    await client.drop_database(db.name)
    await client.close()


async def test_each_event_costs_about_one_round_trip_and_every_update_goes_out_once(
    counted: tuple[Any, list[int]],
) -> None:
    db, sent = counted
    messenger = RecordingMessenger()
    outbox = Outbox(cast(Messenger, messenger), min_age=timedelta(0))
    # As the service runs (a 10 ms wait made the count depend on the machine's speed).
    store = MongoStatusStore(db["applications"], outbox, clear_wait=CLEAR_WAIT)
    await store.ensure_indexes()
    numbers = [f"SQ-2026-{700 + n:06d}" for n in range(20)]
    events = [
        *[(key, body) for number in numbers for key, body in journey(number)],
        *[("notification.delivered", notified(n, "application.completed", "sms")) for n in numbers],
    ]
    sent.clear()

    for key, body in events:
        assert await record(store, key, body)
    await store.aclose()

    # Before the copy and the batches: a read, a write and a removal per changed view,
    # 3.0 per event. Now: the first event of an application inserts it unread, the others
    # write once, and the removals go in batches (or with the next write).
    per_event = len(sent) / len(events)
    print(f"database round trips per event: {per_event:.2f}")
    assert per_event <= 1.2
    ids = [published.message_id for published in messenger.published]
    assert len(ids) == len(set(ids)) == len(events)  # every event changed a view
    assert await db["applications"].count_documents({"outbox": {"$exists": True}}) == 0
    assert await outbox.relay_once() == 0  # nothing left to publish twice


async def test_events_of_one_application_arriving_together_go_out_in_one_write(
    counted: tuple[Any, list[int]],
) -> None:
    """Events of one application handled at once (or arriving while its write is under
    way) go out in one write, each answered whether it was new (a repeated one is not);
    the view they make holds every step, and that view is what the portals get."""
    db, _ = counted
    messenger = RecordingMessenger()
    outbox = Outbox(cast(Messenger, messenger), min_age=timedelta(0))
    store = MongoStatusStore(db["applications"], outbox)
    number = "SQ-2026-000741"
    await store.ensure_indexes()
    assert await record(store, "application.registered", registered(number))
    replaced = store.replacing.batches

    together = [
        ("application.forwarded", forwarded(number)),
        ("application.assigned", assigned(number)),
        ("notification.delivered", notified(number, "application.registered", "email")),
        ("notification.delivered", notified(number, "application.registered", "sms")),
        ("application.assigned", assigned(number)),  # a copy: nothing new
    ]
    answers = await asyncio.gather(*(record(store, key, body) for key, body in together))

    assert answers == [True, True, True, True, False]
    assert store.replacing.batches - replaced == 1  # one write, not four
    stored = await db["applications"].find_one({"_id": number})
    assert stored is not None
    assert stored["view"]["status"] == "assigned"
    steps = [step["status"] for step in stored["view"]["timeline"]]
    assert steps[:3] == ["assigned", "forwarded", "registered"]
    last = messenger.published[-1].body
    assert last["status"] == "assigned"
    assert [step["status"] for step in last["timeline"]][:3] == steps[:3]


async def test_a_copy_made_stale_by_another_writer_costs_a_read_never_a_fact(
    counted: tuple[Any, list[int]],
) -> None:
    db, _ = counted
    number = "SQ-2026-000731"
    first, second = (MongoStatusStore(db["applications"]) for _ in range(2))

    await record(first, "application.registered", registered(number))
    await record(second, "application.forwarded", forwarded(number))  # first's copy is stale
    await record(first, "application.assigned", assigned(number))

    stored = await db["applications"].find_one({"_id": number})
    assert [step["status"] for step in stored["received"]["steps"]] == [
        "registered",
        "forwarded",
        "assigned",
    ]
    assert stored["view"]["status"] == "assigned"
    # The copy kept now is the document as written.
    assert first.latest.get(number) == stored


async def test_a_copy_still_holding_an_update_after_another_writer_keeps_the_update(
    counted: tuple[Any, list[int]],
) -> None:
    """An update the broker refused stays in the outbox through every later write, whoever
    writes it, until the relay publishes it."""
    db, _ = counted
    number = "SQ-2026-000732"
    messenger = RecordingMessenger()
    outbox = Outbox(cast(Messenger, messenger), min_age=timedelta(0))
    first = MongoStatusStore(db["applications"], outbox, clear_wait=0.01)
    second = MongoStatusStore(db["applications"], updates=True)  # no outbox: leaves them
    messenger.fail = True
    await record(first, "application.registered", registered(number))
    noted = notified(number, "application.registered", "sms")
    await record(second, "notification.delivered", noted)
    messenger.fail = False

    await record(first, "application.forwarded", forwarded(number))
    await first.aclose()
    assert await outbox.relay_once() == 0

    statuses = [published.body["status"] for published in messenger.published]
    assert statuses[-1] == "forwarded"
    assert await db["applications"].count_documents({"outbox": {"$exists": True}}) == 0


async def test_the_relay_leaves_alone_an_update_whose_removal_is_queued(
    counted: tuple[Any, list[int]],
) -> None:
    db, _ = counted
    messenger = RecordingMessenger()
    outbox = Outbox(cast(Messenger, messenger), min_age=timedelta(0))
    store = MongoStatusStore(db["applications"], outbox, clear_wait=60)  # flushed by hand
    await record(store, "application.registered", registered("SQ-2026-000733"))

    assert await outbox.relay_once() == 0  # published, its removal queued: not again
    await store.aclose()
    assert await outbox.relay_once() == 0
    assert len(messenger.published) == 1
    assert await db["applications"].count_documents({"outbox": {"$exists": True}}) == 0


async def test_events_of_one_application_handled_at_once_never_race_each_other(
    counted: tuple[Any, list[int]],
) -> None:
    """Six outcomes of one application at once: no write lost to another, no read again;
    they go out as one write."""
    db, sent = counted
    store = MongoStatusStore(db["applications"])
    number = "SQ-2026-000734"
    await record(store, "application.registered", registered(number))
    outcomes = [
        notified(number, step, channel)
        for step in ("application.registered", "application.forwarded", "application.assigned")
        for channel in ("email", "sms")
    ]
    sent.clear()

    await asyncio.gather(*(record(store, "notification.delivered", body) for body in outcomes))

    assert len(sent) == 1, "one write for them all: none lost, no read again"
    stored = await db["applications"].find_one({"_id": number})
    assert len(stored["received"]["notifications"]) == len(outcomes)
    assert store._turns == {}


async def test_events_of_different_applications_handled_at_once_are_written_together(
    counted: tuple[Any, list[int]],
) -> None:
    """One bulk write for the writes that queue behind one under way; a copy another
    writer made stale loses only its own write, which reads and writes again."""
    db, sent = counted
    store = MongoStatusStore(db["applications"])
    other = MongoStatusStore(db["applications"])
    numbers = [f"SQ-2026-{740 + n:06d}" for n in range(12)]
    for number in numbers:
        await record(store, "application.registered", registered(number))
    for number in numbers[3:5]:  # store's copies of these two are stale now
        await record(
            other, "notification.delivered", notified(number, "application.registered", "sms")
        )
    sent.clear()

    await asyncio.gather(*(record(store, "application.forwarded", forwarded(n)) for n in numbers))

    # Writes one at a time: 12 round trips, 14 with the two stale copies read again.
    # Together: the first alone, the rest in one bulk write, one read of the versions
    # that bulk did not match, then the two stale ones read and written again.
    assert len(sent) <= 8
    assert store.replacing.batches < len(numbers)
    for number in numbers:
        stored = await db["applications"].find_one({"_id": number})
        assert stored["view"]["status"] == "forwarded"
        if number in numbers[3:5]:
            assert len(stored["received"]["notifications"]) == 1  # the other writer's fact


async def test_an_application_another_process_wrote_is_read_after_its_insert_fails(
    counted: tuple[Any, list[int]],
) -> None:
    db, sent = counted
    number = "SQ-2026-000760"
    await record(MongoStatusStore(db["applications"]), "application.registered", registered(number))
    fresh = MongoStatusStore(db["applications"])  # holds no copy: a restart, or a replica
    sent.clear()

    assert await record(fresh, "application.forwarded", forwarded(number))
    assert not await record(fresh, "application.forwarded", forwarded(number))  # a copy

    assert len(sent) == 3  # the insert refused, the read, the write; the copy costs nothing
    stored = await db["applications"].find_one({"_id": number})
    assert [step["status"] for step in stored["received"]["steps"]] == ["registered", "forwarded"]
