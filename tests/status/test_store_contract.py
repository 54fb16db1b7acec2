"""One contract for status's store, run against the in-memory fake and MongoDB alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from services.status import domain
from services.status.domain import Fact
from services.status.mongo import MongoStatusStore
from services.status.store import StatusStore
from shared.contracts.events import Event
from shared.contracts.reading import read_event
from shared.mongo import make_client
from tests.status.events import (
    ACT,
    ADDRESS,
    FIN,
    assigned,
    completed,
    forwarded,
    journey,
    notified,
    registered,
)
from tests.status.fakes import MemoryStatusStore

OTHER_FIN = "7XYZW99"


@pytest.fixture
async def memory_store() -> StatusStore:
    return MemoryStatusStore()


@pytest.fixture
async def mongo_store(mongo_url: str) -> AsyncIterator[StatusStore]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_status"]
    store = MongoStatusStore(db["applications"])
    await store.ensure_indexes()
    yield store
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.store)])
def store(request: pytest.FixtureRequest) -> StatusStore:
    return cast(StatusStore, request.getfixturevalue(f"{request.param}_store"))


def fact(key: str, body: dict[str, Any]) -> Fact:
    event = read_event(key, body)
    assert event is not None
    return domain.fact_of(cast(Event, event))


async def record(store: StatusStore, key: str, body: dict[str, Any]) -> bool:
    found = fact(key, body)
    return await store.record(found["application_number"], [found])


async def test_new_facts_are_recorded_and_a_copy_is_nothing_new(store: StatusStore) -> None:
    number = "SQ-2026-000001"

    assert await record(store, "application.registered", registered(number))
    assert not await record(store, "application.registered", registered(number))
    assert await record(store, "application.forwarded", forwarded(number))
    assert not await store.record(number, [fact("application.forwarded", forwarded(number))])


async def test_the_owner_gets_the_view_folded_from_every_fact(store: StatusStore) -> None:
    number = "SQ-2026-000002"
    facts = [fact(key, body) for key, body in journey(number)]
    for one in facts:
        await store.record(number, [one])

    view = await store.own_application(FIN, number)

    expected = domain.document(number, domain.merged({}, facts) or {})["view"]
    assert view is not None
    assert view.model_dump(mode="json") == expected
    assert list(view.model_dump(mode="json")) == list(expected)  # key order too


async def test_several_facts_recorded_at_once_are_one_write(store: StatusStore) -> None:
    number = "SQ-2026-000003"
    facts = [fact(key, body) for key, body in reversed(journey(number))]

    assert await store.record(number, facts)

    view = await store.own_application(FIN, number)
    assert view is not None
    assert [step.status for step in view.timeline] == [
        "completed",
        "assigned",
        "forwarded",
        "registered",
    ]


async def test_someone_elses_or_an_unknown_application_is_nobodys_answer(
    store: StatusStore,
) -> None:
    await record(store, "application.registered", registered("SQ-2026-000004", fin=OTHER_FIN))

    assert await store.own_application(FIN, "SQ-2026-000004") is None
    assert await store.own_application(FIN, "SQ-2026-999999") is None
    assert await store.own_applications(FIN) == []
    assert [v.application_number for v in await store.own_applications(OTHER_FIN)] == [
        "SQ-2026-000004"
    ]


async def test_facts_before_the_registration_are_kept_but_shown_to_nobody(
    store: StatusStore,
) -> None:
    number = "SQ-2026-000005"
    await record(store, "application.assigned", assigned(number))
    await record(store, "notification.delivered", notified(number, "application.forwarded", "sms"))

    assert await store.own_application(FIN, number) is None
    assert await store.own_applications(FIN) == []

    await record(store, "application.registered", registered(number))
    view = await store.own_application(FIN, number)
    assert view is not None
    assert view.status == "assigned"
    assert [n.event for n in view.notifications] == ["application.forwarded"]


async def test_the_list_is_newest_first_by_submission_then_number_without_timelines(
    store: StatusStore,
) -> None:
    for number, minute in [
        ("SQ-2026-000010", 5),
        ("SQ-2026-000011", 1),
        ("SQ-2026-000012", 9),
        ("SQ-2026-000013", 5),
    ]:
        await record(store, "application.registered", registered(number, minute=minute))
    await record(store, "application.completed", completed("SQ-2026-000011"))

    listed = await store.own_applications(FIN)

    assert [view.application_number for view in listed] == [
        "SQ-2026-000012",
        "SQ-2026-000013",
        "SQ-2026-000010",
        "SQ-2026-000011",
    ]
    assert all("timeline" not in view.model_dump() for view in listed)
    assert listed[-1].status == "completed"


async def test_concurrent_writers_of_one_application_lose_no_fact(store: StatusStore) -> None:
    number = "SQ-2026-000020"
    await record(store, "application.registered", registered(number))
    outcomes = [
        ("notification.delivered", notified(number, "application.registered", channel, minute))
        for minute, channel in [(5, "email"), (6, "sms")]
    ]
    steps = [(key, body) for key, body in journey(number)[1:]]

    await asyncio.gather(*(record(store, key, body) for key, body in [*steps, *outcomes]))

    view = await store.own_application(FIN, number)
    assert view is not None
    assert len(view.timeline) == 4
    assert {(n.channel, n.state) for n in view.notifications} == {
        ("email", "delivered"),
        ("sms", "delivered"),
    }


async def test_the_act_copy_is_the_owners_once_completed(store: StatusStore) -> None:
    number = "SQ-2026-000030"
    events = journey(number)
    for key, body in events[:3]:
        await record(store, key, body)
    assert await store.own_act(FIN, number) is None  # no act yet

    await record(store, *events[3])

    copy = await store.own_act(FIN, number)
    assert copy is not None
    assert (copy.application_number, copy.subscriber_code, copy.address) == (
        number,
        "1000001",
        ADDRESS,
    )
    assert copy.act.model_dump() == ACT
    assert await store.own_act(OTHER_FIN, number) is None
    assert await store.own_act(FIN, "SQ-2026-999999") is None
