"""One contract for the dispatcher's store, run against the in-memory fake and MongoDB alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.dispatcher.domain import deadlines, withdrawals, workorders
from services.dispatcher.domain.stock import Receipt
from services.dispatcher.domain.workorders import Application, WorkOrder
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.store import DispatcherStore
from shared.contracts.commands import ReportOutcome
from shared.contracts.errors import ErrorCode, field_error
from shared.contracts.replies import Accepted, Refused
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.dispatcher.conftest import given, level, team
from tests.dispatcher.fakes import MemoryDispatcherStore
from tests.support.recording import RecordingMessenger

NOON = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@dataclass
class Subject:
    store: DispatcherStore
    # The events published so far: (routing key, application number, sequence).
    published: Callable[[], list[tuple[str, str, int]]]
    # The work orders published on meter.field so far: (routing key, body).
    field_published: Callable[[], list[tuple[str, dict[str, Any]]]]


@pytest.fixture
async def memory_subject() -> Subject:
    store = MemoryDispatcherStore()
    return Subject(
        store,
        lambda: [(e.routing_key, e.application_number, e.sequence) for e in store.published],
        lambda: [(m.routing_key, m.body()) for m in store.field_published],
    )


async def _mongo_subject(mongo_url: str, clear_wait: float) -> AsyncIterator[Subject]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_dispatcher"]
    messenger = RecordingMessenger()
    outbox = Outbox(messenger)  # type: ignore[arg-type]
    store = MongoDispatcherStore(db, outbox, clear_wait=clear_wait)
    await store.ensure_indexes()
    yield Subject(
        store,
        lambda: [
            (p.routing_key, p.body["application_number"], p.body["sequence"])
            for p in messenger.published
            if p.exchange == "meter.events"
        ],
        lambda: [
            (p.routing_key, p.body)
            for p in messenger.published
            if p.exchange == "meter.field" and p.message_type == "work_order.assigned"
        ],
    )
    await store.documents.flush()
    # Every published entry is out of the outboxes, none was published twice.
    assert await db["work_orders"].count_documents({"outbox.0": {"$exists": True}}) == 0
    ids = [p.message_id for p in messenger.published]
    assert len(ids) == len(set(ids))
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
async def mongo_subject(mongo_url: str) -> AsyncIterator[Subject]:
    async for subject in _mongo_subject(mongo_url, 0.0):
        yield subject


@pytest.fixture
async def batched_subject(mongo_url: str) -> AsyncIterator[Subject]:
    """As the service runs: published entries leave the outboxes in batches."""
    async for subject in _mongo_subject(mongo_url, 0.01):
        yield subject


@pytest.fixture(
    params=[
        "memory",
        pytest.param("mongo", marks=pytest.mark.store),
        pytest.param("batched", marks=pytest.mark.store),
    ]
)
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.getfixturevalue(f"{request.param}_subject")  # type: ignore[no-any-return]


def application(number: str, district: str = "BAK-NAS", due_by: str | None = None) -> Application:
    return Application(
        number=number,
        district_code=district,
        reason_code="new_installation",
        language="az",
        subscriber_code="1000001",
        sequence=1,
        applicant_fin="5ABCD12",
        due_by=due_by,
    )


def opened(
    number: str, at: datetime = NOON, reserved: bool | None = True, due_by: str | None = None
) -> tuple[WorkOrder, list[workorders.Message]]:
    # Any unique id will do: the store never derives one from the other.
    order_id = number.replace("SQ-", "WO-")
    return workorders.opened(application(number, due_by=due_by), at, reserved, "corr-1", order_id)


async def save_new(
    subject: Subject, number: str, at: datetime = NOON, due_by: str | None = None
) -> WorkOrder:
    work_order, events = opened(number, at, due_by=due_by)
    assert await subject.store.save_and_publish(work_order, events)
    stored = await subject.store.work_order(number)
    assert stored is not None
    return stored


# --- teams and capacity -------------------------------------------------------------------


async def test_teams_are_listed_by_id_and_an_import_replaces_a_team_whole(
    subject: Subject,
) -> None:
    assert await subject.store.upsert_teams([team("T-02", "BAK-NAS"), team("T-01", "A;B")]) == 2
    assert [t.team_id for t in await subject.store.teams()] == ["T-01", "T-02"]
    changed = team("T-01", "GNC-01", capacity=9, name="Gəncə")
    await subject.store.upsert_teams([changed])
    assert (await subject.store.teams())[0] == changed


async def test_a_team_day_counts_each_work_order_once_up_to_capacity(subject: Subject) -> None:
    two = team("T-01", "BAK-NAS", capacity=2)
    day = "2026-11-26"
    assert await subject.store.claim(two, day, "A")
    assert await subject.store.claim(two, day, "A"), "claiming again is idempotent"
    assert await subject.store.claim(two, day, "B")
    assert not await subject.store.claim(two, day, "C")
    assert await subject.store.claim(two, "2026-11-27", "C"), "a new day, new capacity"
    loads = await subject.store.team_loads(day, ["T-01", "T-09"])
    assert loads == {"T-01": ["A", "B"]}
    assert await subject.store.unclaim("T-01", day, "B")
    assert not await subject.store.unclaim("T-01", day, "B")
    assert await subject.store.team_loads(day, ["T-01"]) == {"T-01": ["A"]}


async def test_team_loads_read_together_each_get_their_own_teams_and_day(
    subject: Subject,
) -> None:
    """Concurrent dispatches' reads of team days go out together in MongoDB (one find);
    each still gets the days of its own teams, on its own day, in lists of its own."""
    one, two = team("T-01", "BAK-NAS", capacity=5), team("T-02", "GNC-01", capacity=5)
    for a_team, day, number in [
        (one, "2026-11-26", "A"),
        (one, "2026-11-27", "B"),
        (two, "2026-11-26", "C"),
        (two, "2026-11-26", "D"),
    ]:
        assert await subject.store.claim(a_team, day, number)
    asks = [
        ("2026-11-26", ["T-01"]),
        ("2026-11-26", ["T-02", "T-09"]),
        ("2026-11-27", ["T-01", "T-02"]),
        ("2026-11-26", ["T-01", "T-02"]),
        ("2026-11-25", ["T-01"]),
    ]
    loads = await asyncio.gather(*(subject.store.team_loads(day, ids) for day, ids in asks))
    assert loads == [
        {"T-01": ["A"]},
        {"T-02": ["C", "D"]},
        {"T-01": ["B"]},
        {"T-01": ["A"], "T-02": ["C", "D"]},
        {},
    ]
    loads[0]["T-01"].append("mine")
    assert loads[3]["T-01"] == ["A"], "each caller has lists of its own"


async def test_team_days_before_a_day_are_forgotten(subject: Subject) -> None:
    one = team("T-01", "BAK-NAS", capacity=2)
    for day in ("2026-11-18", "2026-11-19", "2026-11-26"):
        assert await subject.store.claim(one, day, "A")
    assert await subject.store.forget_team_days("2026-11-19") == 1
    assert await subject.store.forget_team_days("2026-11-19") == 0
    assert await subject.store.team_loads("2026-11-18", ["T-01"]) == {}
    assert await subject.store.team_loads("2026-11-19", ["T-01"]) == {"T-01": ["A"]}
    assert await subject.store.team_loads("2026-11-26", ["T-01"]) == {"T-01": ["A"]}


# --- stock ------------------------------------------------------------------------------


async def test_a_receipt_counts_once_and_a_repeat_answers_the_free_meters_now(
    subject: Subject,
) -> None:
    assert await subject.store.receive("GNC-01", 3, "r-1", NOON) == Receipt(3, counted=True)
    assert await subject.store.reserve("GNC-01", "SQ-1")
    again = await subject.store.receive("GNC-01", 3, "r-1", NOON)
    assert again == Receipt(2, counted=False), "the current free stock, nothing added"
    assert await subject.store.receive("GNC-01", 2, "r-2", NOON) == Receipt(4, counted=True)
    found = await level(subject.store, "GNC-01")
    assert (found.received, found.reserved, found.consumed, found.available) == (5, 1, 0, 4)


async def test_a_receipt_is_remembered_for_a_week_then_forgotten(subject: Subject) -> None:
    await subject.store.receive("GNC-01", 3, "r-1", NOON)
    week = NOON + timedelta(days=7)
    assert await subject.store.receive("GNC-01", 3, "r-1", week) == Receipt(3, counted=False)

    later = NOON + timedelta(days=8, minutes=1)
    await subject.store.receive("GNC-01", 1, "r-2", later)  # drops receipts older than 8 days
    assert await subject.store.receive("GNC-01", 3, "r-1", later) == Receipt(7, counted=True)


async def test_reserving_stops_at_zero_and_consuming_or_releasing_moves_held_meters_only(
    subject: Subject,
) -> None:
    assert not await subject.store.reserve("BAK-NAS", "SQ-1"), "no stock document yet"
    await subject.store.receive("BAK-NAS", 2, "r-1", NOON)
    assert await subject.store.reserve("BAK-NAS", "SQ-1")
    assert await subject.store.reserve("BAK-NAS", "SQ-2")
    assert not await subject.store.reserve("BAK-NAS", "SQ-3")
    assert await subject.store.consume("BAK-NAS", "SQ-1")
    assert not await subject.store.consume("BAK-NAS", "SQ-1")
    assert await subject.store.release("BAK-NAS", "SQ-2")
    assert not await subject.store.release("BAK-NAS", "SQ-2")
    found = await level(subject.store, "BAK-NAS")
    assert (found.received, found.reserved, found.consumed, found.available) == (2, 0, 1, 1)


async def test_stock_levels_are_listed_by_district(subject: Subject) -> None:
    assert await subject.store.stock_levels() == []
    await given(subject.store, stock={"SUM-01": 1, "BAK-NAS": 2})
    assert [found.district_code for found in await subject.store.stock_levels()] == [
        "BAK-NAS",
        "SUM-01",
    ]


async def test_concurrent_reservations_never_take_more_meters_than_received(
    subject: Subject,
) -> None:
    store = subject.store
    await given(store, stock={"BAK-NAS": 20})
    numbers = [f"SQ-2026-{index:06d}" for index in range(60)]

    held = await asyncio.gather(*(store.reserve("BAK-NAS", number) for number in numbers))
    again = await asyncio.gather(*(store.reserve("BAK-NAS", number) for number in numbers))

    assert sum(held) == 20
    assert again == held, "reserving is idempotent per application"
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (20, 0)


async def test_concurrent_stock_and_team_day_writes_answer_as_if_made_one_by_one(
    subject: Subject,
) -> None:
    """In MongoDB concurrent writes of one stock or team day go as one write where it can do
    them all; each caller still gets what it would have got alone."""
    store = subject.store
    await given(store, stock={"BAK-NAS": 10, "SUM-01": 2})
    numbers = [f"SQ-2026-{index:06d}" for index in range(8)]
    districts = ["BAK-NAS", "SUM-01"] * 4
    held = await asyncio.gather(*map(store.reserve, districts, numbers))
    assert held[0::2] == [True] * 4
    assert sorted(held[1::2]) == [False, False, True, True], "two meters for four asks"
    assert (await level(store, "SUM-01")).available == 0

    consumed = await asyncio.gather(
        *(store.consume("BAK-NAS", number) for number in [*numbers[0:8:2], "SQ-X", numbers[0]])
    )
    assert consumed == [True, True, True, True, False, False]
    found = await level(store, "BAK-NAS")
    assert (found.reserved, found.consumed, found.available) == (0, 4, 6)

    three, day = team("T-01", "BAK-NAS", capacity=3), "2026-11-26"
    asked = ["a", "b", "c", "d", "b"]
    claimed = await asyncio.gather(*(store.claim(three, day, number) for number in asked))
    assert claimed[1] == claimed[4], "a number asked for twice gets one answer"
    counted = {number for number, got in zip(asked, claimed, strict=True) if got}
    assert len(counted) == 3, "room for three of the four numbers"
    loads = await store.team_loads(day, ["T-01"])
    assert sorted(loads["T-01"]) == sorted(counted)
    assert len(loads["T-01"]) == 3


# --- work orders ------------------------------------------------------------------------


async def test_a_new_work_order_is_found_by_number_and_id_and_its_events_published_in_order(
    subject: Subject,
) -> None:
    stored = await save_new(subject, "SQ-2026-000001")
    assert stored["work_order_id"] == "WO-2026-000001"
    by_id = await subject.store.work_order_by_id("WO-2026-000001")
    assert by_id is not None
    assert by_id["_id"] == "SQ-2026-000001"
    assert await subject.store.work_order("SQ-2026-000002") is None
    assert await subject.store.work_order_by_id("WO-2026-000002") is None
    assert subject.published() == [("application.forwarded", "SQ-2026-000001", 2)]


async def test_a_second_work_order_for_the_same_application_is_not_stored(
    subject: Subject,
) -> None:
    await save_new(subject, "SQ-2026-000001")
    work_order, events = opened("SQ-2026-000001", reserved=False)
    assert not await subject.store.save_and_publish(work_order, events)
    stored = await subject.store.work_order("SQ-2026-000001")
    assert stored is not None
    assert stored["status"] == "waiting"
    assert len(subject.published()) == 1


async def test_work_orders_saved_together_are_each_stored_once_and_told_so(
    subject: Subject,
) -> None:
    """Concurrent dispatches (in MongoDB one insert for them all): a copy of the same
    application's work order, even in the same batch, is told it was not stored."""
    saves = [opened(number) for number in ("SQ-2026-000001", "SQ-2026-000002")]
    copy, copy_events = opened("SQ-2026-000001", reserved=False)
    outcomes = await asyncio.gather(
        *(subject.store.save_and_publish(order, events) for order, events in saves),
        subject.store.save_and_publish(copy, copy_events),
    )
    assert list(outcomes) == [True, True, False]
    assert copy["status"] != saves[0][0]["status"]  # without a meter reserved
    for number in ("SQ-2026-000001", "SQ-2026-000002"):
        stored = await subject.store.work_order(number)
        assert stored is not None
        assert stored["status"] == saves[0][0]["status"]  # the first one, not the copy
    assert sorted(number for _, number, _ in subject.published()) == [
        "SQ-2026-000001",
        "SQ-2026-000002",
    ]


async def test_a_change_replaces_the_version_it_was_made_from_and_no_other(
    subject: Subject,
) -> None:
    first = await save_new(subject, "SQ-2026-000001")
    changed, events = workorders.assigned(first, team("T-01", "BAK-NAS"), "2026-11-26", NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=first)
    stored = await subject.store.work_order("SQ-2026-000001")
    assert stored is not None
    assert (stored["status"], stored["team_id"], stored["sequence"]) == ("assigned", "T-01", 3)
    assert stored["version"] > first["version"]

    again, events = workorders.assigned(first, team("T-02", "BAK-NAS"), "2026-11-26", NOON)
    assert not await subject.store.save_and_publish(again, events, replacing=first)
    kept = await subject.store.work_order("SQ-2026-000001")
    assert kept is not None
    assert kept["team_id"] == "T-01"
    assert subject.published() == [
        ("application.forwarded", "SQ-2026-000001", 2),
        ("application.assigned", "SQ-2026-000001", 3),
    ]
    assert [key for key, _ in subject.field_published()] == ["team.T-01"], "only the winner"


async def test_an_assignment_publishes_the_teams_work_order_on_meter_field(
    subject: Subject,
) -> None:
    app = replace(
        application("SQ-2026-000001"),
        address="Bakı, Azadlıq pr. 12",
        phone="+994501234567",
        notes="Zəng edin.",
    )
    waiting, events = workorders.opened(app, NOON, True, "corr-1", "WO-0123456789ABCDEF")
    assert await subject.store.save_and_publish(waiting, events)
    first = await subject.store.work_order("SQ-2026-000001")
    assert first is not None
    changed, events = workorders.assigned(first, team("T-07", "BAK-NAS"), "2026-11-26", NOON)

    assert await subject.store.save_and_publish(changed, events, replacing=first)

    assert subject.field_published() == [
        (
            "team.T-07",
            {
                "work_order_id": "WO-0123456789ABCDEF",
                "application_number": "SQ-2026-000001",
                "team_id": "T-07",
                "subscriber_code": "1000001",
                "address": "Bakı, Azadlıq pr. 12",
                "district_code": "BAK-NAS",
                "reason_code": "new_installation",
                "additional_meter": False,
                "phone": "+994501234567",
                "notes": "Zəng edin.",
            },
        )
    ]
    assert subject.published()[-1] == ("application.assigned", "SQ-2026-000001", 3)


async def test_work_orders_are_listed_oldest_first_by_status_or_pending_stock(
    subject: Subject,
) -> None:
    later = NOON + timedelta(minutes=5)
    await save_new(subject, "SQ-2026-000003", at=later)
    await save_new(subject, "SQ-2026-000002")
    waiting = await save_new(subject, "SQ-2026-000001")
    changed, events = workorders.assigned(waiting, team("T-01", "BAK-NAS"), "d", NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=waiting)

    def numbers(found: list[WorkOrder]) -> list[str]:
        return [work_order["_id"] for work_order in found]

    assert numbers(await subject.store.work_orders()) == [
        "SQ-2026-000001",
        "SQ-2026-000002",
        "SQ-2026-000003",
    ]
    assert numbers(await subject.store.work_orders(status="waiting")) == [
        "SQ-2026-000002",
        "SQ-2026-000003",
    ]
    assert numbers(await subject.store.work_orders(status="waiting", limit=1)) == ["SQ-2026-000002"]
    assert await subject.store.count_work_orders("waiting") == 2  # the gauge: counted, not read
    assert await subject.store.count_work_orders("assigned") == 1
    assert await subject.store.count_work_orders("completed") == 0
    assert await subject.store.work_orders(stock_pending=True) == []


async def test_a_closed_work_order_is_found_by_its_report_and_its_stock_change_settled(
    subject: Subject,
) -> None:
    first = await save_new(subject, "SQ-2026-000001")
    assigned, events = workorders.assigned(first, team("T-01", "BAK-NAS"), "d", NOON)
    assert await subject.store.save_and_publish(assigned, events, replacing=first)
    current = await subject.store.work_order("SQ-2026-000001")
    assert current is not None
    report = ReportOutcome(
        application_number="SQ-2026-000001",
        work_order_id=current["work_order_id"],
        team_id="T-01",
        outcome="not_executed",
        reason_code="unsuitable_water_line",
    )
    closed, events = workorders.reported(current, report, NOON, "m-1", Accepted())
    assert await subject.store.save_and_publish(closed, events, replacing=current)

    found = await subject.store.work_order_by_message("m-1")
    assert found is not None
    assert (found["_id"], found["status"], found["stock_pending"]) == (
        "SQ-2026-000001",
        "rejected",
        "release",
    )
    assert found["report_reply"] == {"outcome": "accepted"}
    assert await subject.store.work_order_by_message("m-2") is None
    assert [w["_id"] for w in await subject.store.work_orders(stock_pending=True)] == [
        "SQ-2026-000001"
    ]
    await subject.store.stock_settled("SQ-2026-000001")
    assert await subject.store.work_orders(stock_pending=True) == []
    await subject.store.flush_settled()  # a batched store may take the mark off later
    settled = await subject.store.work_order("SQ-2026-000001")
    assert settled is not None
    assert "stock_pending" not in settled
    assert settled["status"] == "rejected"
    assert subject.published()[-1] == ("application.rejected", "SQ-2026-000001", 4)


# --- withdrawals and due dates ----------------------------------------------------------


async def test_a_withdrawn_work_order_keeps_its_applicant_and_awaits_its_stock_release(
    subject: Subject,
) -> None:
    waiting = await save_new(subject, "SQ-2026-000001", due_by="2026-12-10")
    assert (waiting["applicant_fin"], waiting["due_by"]) == ("5ABCD12", "2026-12-10")

    changed, events = withdrawals.withdrawn(waiting, NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=waiting)
    assert not await subject.store.save_and_publish(changed, events, replacing=waiting)

    stored = await subject.store.work_order("SQ-2026-000001")
    assert stored is not None
    assert (stored["status"], stored["stock_pending"]) == ("withdrawn", "release")
    assert [w["_id"] for w in await subject.store.work_orders(stock_pending=True)] == [
        "SQ-2026-000001"
    ]
    assert subject.published()[-1] == ("application.withdrawn", "SQ-2026-000001", 3)


async def test_past_due_lists_open_work_orders_due_before_a_day_earliest_first(
    subject: Subject,
) -> None:
    await save_new(subject, "SQ-2026-000001", due_by="2026-12-03")
    await save_new(subject, "SQ-2026-000002", due_by="2026-12-01")
    await save_new(subject, "SQ-2026-000003", due_by="2026-12-04")  # due on the day: not yet
    await save_new(subject, "SQ-2026-000004")  # no due date
    assigned = await save_new(subject, "SQ-2026-000005", due_by="2026-12-03")
    changed, events = workorders.assigned(assigned, team("T-01", "BAK-NAS"), "d", NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=assigned)
    withdrawn = await save_new(subject, "SQ-2026-000006", due_by="2026-11-30")
    changed, events = withdrawals.withdrawn(withdrawn, NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=withdrawn)
    rejected, events = opened("SQ-2026-000007", reserved=False, due_by="2026-11-30")
    assert await subject.store.save_and_publish(rejected, events)

    def numbers(found: list[WorkOrder]) -> list[str]:
        return [work_order["_id"] for work_order in found]

    assert numbers(await subject.store.past_due("2026-12-04")) == [
        "SQ-2026-000002",
        "SQ-2026-000001",
        "SQ-2026-000005",
    ]
    assert numbers(await subject.store.past_due("2026-12-04", limit=1)) == ["SQ-2026-000002"]
    assert await subject.store.past_due("2026-12-01") == []

    first = await subject.store.work_order("SQ-2026-000002")
    assert first is not None
    changed, events = deadlines.announced(first, NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=first)
    assert numbers(await subject.store.past_due("2026-12-04", unannounced=True)) == [
        "SQ-2026-000001",
        "SQ-2026-000005",
    ]
    assert len(await subject.store.past_due("2026-12-04")) == 3, "still overdue, announced"
    assert subject.published()[-1] == ("application.overdue", "SQ-2026-000002", 3)


# --- work orders no queue of their team took ----------------------------------------------


async def assigned_new(subject: Subject, number: str) -> WorkOrder:
    waiting = await save_new(subject, number)
    changed, events = workorders.assigned(waiting, team("T-07", "BAK-NAS"), "2026-11-26", NOON)
    assert await subject.store.save_and_publish(changed, events, replacing=waiting)
    stored = await subject.store.work_order(number)
    assert stored is not None
    return stored


async def test_a_work_order_that_came_back_is_marked_listed_and_taken_by_one_move(
    subject: Subject,
) -> None:
    store = subject.store
    one = await assigned_new(subject, "SQ-2026-000001")
    two = await assigned_new(subject, "SQ-2026-000002")
    waiting = await save_new(subject, "SQ-2026-000003")
    assert await store.mark_unrouted("SQ-2026-000001", one["work_order_id"], "08:00:00", "08:00:02")
    assert await store.mark_unrouted("SQ-2026-000002", two["work_order_id"], "08:00:00", "08:00:01")
    # Not assigned, or another work order of the application: not marked.
    assert not await store.mark_unrouted(
        "SQ-2026-000003", waiting["work_order_id"], "08:00:00", "08:00:01"
    )
    assert not await store.mark_unrouted("SQ-2026-000001", "WO-0000000000000000", "08:00", "08:01")

    def numbers(found: list[WorkOrder]) -> list[str]:
        return [work_order["_id"] for work_order in found]

    # Due by its next offer, the earliest first.
    assert numbers(await store.unrouted("08:00:05")) == ["SQ-2026-000002", "SQ-2026-000001"]
    assert await store.count_unrouted() == 2
    assert numbers(await store.unrouted("08:00:01")) == ["SQ-2026-000002"]
    assert await store.unrouted("08:00:00") == []
    assert numbers(await store.unrouted("08:00:05", limit=1)) == ["SQ-2026-000002"]

    # Two dispatchers read the same offer: only the first move takes it.
    [read] = await store.unrouted("08:00:01")
    assert (read["unrouted_at"], read["offer_at"]) == ("08:00:00", "08:00:01")
    assert await store.move_unrouted(read, "08:00:20")
    assert not await store.move_unrouted(read, "08:00:21")
    assert numbers(await store.unrouted("08:00:05")) == ["SQ-2026-000001"]
    moved = await store.work_order("SQ-2026-000002")
    assert moved is not None
    assert (moved["unrouted_at"], moved["offer_at"]) == ("08:00:00", "08:00:20")
    # Taken off once a queue took it; a stale read cannot put it back.
    assert await store.move_unrouted({**read, "offer_at": "08:00:20"}, None)
    assert not await store.move_unrouted({**read, "offer_at": "08:00:20"}, "08:00:30")
    assert numbers(await store.unrouted("99:99:99")) == ["SQ-2026-000001"]
    assert await store.count_unrouted() == 1
    moved = await store.work_order("SQ-2026-000002")
    assert moved is not None
    assert "unrouted_at" not in moved
    assert "offer_at" not in moved

    # A work order closed meanwhile is not listed.
    marked = await store.work_order("SQ-2026-000001")
    assert marked is not None
    changed, events = withdrawals.withdrawn(marked, NOON)
    assert await store.save_and_publish(changed, events, replacing=marked)
    assert await store.unrouted("99:99:99") == []
    assert await store.count_unrouted() == 0


async def test_a_replacement_from_a_read_before_the_mark_loses_and_the_mark_stays(
    subject: Subject,
) -> None:
    """An overdue announcement (or a report) that read the work order just before it was
    marked, or before its mark moved, must not write it back without: it loses, and the
    write made again from the fresh document keeps the mark."""
    store = subject.store
    read = await assigned_new(subject, "SQ-2026-000001")
    assert await store.mark_unrouted("SQ-2026-000001", read["work_order_id"], "08:00", "08:00:02")

    due = {"due_by": "2026-11-20"}
    changed, events = deadlines.announced({**read, **due}, NOON)
    assert not await store.save_and_publish(changed, events, replacing=read)
    fresh = await store.work_order("SQ-2026-000001")
    assert fresh is not None
    assert fresh["version"] == read["version"] + 1
    changed, events = deadlines.announced({**fresh, **due}, NOON)
    assert await store.save_and_publish(changed, events, replacing=fresh)
    [listed] = await store.unrouted("99:99:99")
    assert listed["offer_at"] == "08:00:02"
    assert "overdue_at" in listed

    # Its move is a change too: a write from the read before it loses.
    assert await store.move_unrouted(listed, "08:00:20")
    changed, events = withdrawals.withdrawn(listed, NOON)
    assert not await store.save_and_publish(changed, events, replacing=listed)
    assert [found["offer_at"] for found in await store.unrouted("99:99:99")] == ["08:00:20"]


# --- refused reports --------------------------------------------------------------------


def refusal(code: ErrorCode) -> Refused:
    return Refused(errors=[field_error("work_order_id", code, "az")])


async def test_the_first_refusal_of_a_message_is_the_one_remembered(subject: Subject) -> None:
    assert await subject.store.refusal_for("m-1") is None
    await subject.store.remember_refusal("m-1", refusal(ErrorCode.UNKNOWN_WORK_ORDER))
    await subject.store.remember_refusal("m-1", refusal(ErrorCode.WORK_ORDER_CLOSED))
    assert await subject.store.refusal_for("m-1") == refusal(ErrorCode.UNKNOWN_WORK_ORDER)
    assert await subject.store.refusal_for("m-2") is None


async def test_a_refusal_against_a_work_order_is_listed_on_it_once_as_a_change(
    subject: Subject,
) -> None:
    store = subject.store
    work_order, events = opened("SQ-2026-000001")
    assert await store.save_and_publish(work_order, events)
    if isinstance(store, MongoDispatcherStore):
        # A batched store empties the outbox later, at a version of its own: done first,
        # so the versions below count the refusals alone however slow the machine is.
        await store.documents.flush()
    stored = await store.work_order("SQ-2026-000001")
    assert stored is not None
    assert stored["refused_reports"] == []

    await store.remember_refusal("m-1", refusal(ErrorCode.WRONG_TEAM), stored)
    await store.remember_refusal("m-1", refusal(ErrorCode.WORK_ORDER_CLOSED), stored)
    await store.remember_refusal("m-2", refusal(ErrorCode.WRONG_TEAM), stored)

    listed = await store.work_order("SQ-2026-000001")
    assert listed is not None
    assert listed["refused_reports"] == ["m-1", "m-2"]
    assert listed["version"] == stored["version"] + 2, "a concurrent whole write loses"
    assert await store.refusal_for("m-1") == refusal(ErrorCode.WRONG_TEAM)
    # A write at the version read before the refusal loses, and is retried on the fresh one.
    closed = {**stored, "status": workorders.COMPLETED}
    assert not await store.save_and_publish(closed, [], replacing=stored)


async def test_a_work_order_stored_without_the_refusal_list_gets_none(subject: Subject) -> None:
    store = subject.store
    work_order, events = opened("SQ-2026-000001")
    legacy = {key: value for key, value in work_order.items() if key != "refused_reports"}
    assert await store.save_and_publish(legacy, events)
    stored = await store.work_order("SQ-2026-000001")
    assert stored is not None

    await store.remember_refusal("m-1", refusal(ErrorCode.WRONG_TEAM), stored)

    again = await store.work_order("SQ-2026-000001")
    assert again is not None
    assert "refused_reports" not in again
    assert again["version"] == stored["version"]
    assert await store.refusal_for("m-1") == refusal(ErrorCode.WRONG_TEAM)


# --- the MongoDB adapter's outbox -------------------------------------------------------


@pytest.mark.store
async def test_events_that_cannot_be_published_stay_in_the_outbox_for_the_relay(
    mongo_url: str,
) -> None:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_dispatcher"]
    messenger = RecordingMessenger(fail=True)
    outbox = Outbox(messenger, min_age=timedelta(0))  # type: ignore[arg-type]
    store = MongoDispatcherStore(db, outbox)
    await store.ensure_indexes()
    try:
        work_order, events = opened("SQ-2026-000001")
        assert await store.save_and_publish(work_order, events)
        stored: Any = await store.work_order("SQ-2026-000001")
        assert [entry["routing_key"] for entry in stored["outbox"]] == ["application.forwarded"]
        assert stored["outbox"][0]["correlation_id"] == "corr-1"

        messenger.fail = False
        assert await outbox.relay_once() == 1
        assert [p.routing_key for p in messenger.published] == ["application.forwarded"]
        assert messenger.published[0].message_id == stored["outbox"][0]["message_id"]
        relayed: Any = await store.work_order("SQ-2026-000001")
        assert relayed["outbox"] == []
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_work_orders_looked_up_and_settled_together_each_get_their_own(
    subject: Subject,
) -> None:
    """Concurrent messages' lookups and stock settlements go out together in MongoDB; each
    caller still gets its own answer."""
    numbers = [f"SQ-2026-00004{n}" for n in range(4)]
    for number in numbers:
        current = await save_new(subject, number)
        report = ReportOutcome(
            application_number=number,
            work_order_id=current["work_order_id"],
            team_id="T-01",
            outcome="not_executed",
            reason_code="unsuitable_water_line",
        )
        closed, events = workorders.reported(current, report, NOON, f"m-{number}", Accepted())
        assert await subject.store.save_and_publish(closed, events, replacing=current)

    found = await asyncio.gather(
        *(subject.store.work_order(number) for number in [*numbers, "SQ-2026-000099"]),
        *(subject.store.work_order_by_id(number.replace("SQ-", "WO-")) for number in numbers),
    )
    assert [None if w is None else w["_id"] for w in found] == [*numbers, None, *numbers]
    assert len(await subject.store.work_orders(stock_pending=True)) == len(numbers)

    await asyncio.gather(*(subject.store.stock_settled(number) for number in numbers[:3]))

    pending = await subject.store.work_orders(stock_pending=True)
    assert [w["_id"] for w in pending] == numbers[3:]
