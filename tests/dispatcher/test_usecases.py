"""The dispatcher's use cases over the in-memory store: dispatching, closing work orders,
receiving stock and housekeeping, including the races and crashes they must survive."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest

from services.dispatcher.background import Housekeeping
from services.dispatcher.domain import reports, workorders
from services.dispatcher.usecases import (
    WRITE_ATTEMPTS,
    Dispatcher,
    WorkOrderBusy,
    WorkOrderIdTaken,
)
from shared.clock import stamp
from shared.contracts.commands import ReceiveStock, ReportOutcome
from shared.contracts.events import (
    EVENT_MODELS,
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationRegistered,
    DomainEvent,
)
from shared.contracts.reading import MalformedMessage, Refusal, read_command
from shared.contracts.replies import Accepted, Refused, StockAccepted
from tests.dispatcher.conftest import MovableClock, act, given, level, registered, report, team
from tests.dispatcher.fakes import MemoryDispatcherStore


@pytest.fixture
def store() -> MemoryDispatcherStore:
    return MemoryDispatcherStore()


@pytest.fixture
def dispatcher(store: MemoryDispatcherStore, clock: MovableClock) -> Dispatcher:
    return Dispatcher(store, clock)


def event(**overrides: Any) -> ApplicationRegistered:
    return ApplicationRegistered.model_validate(registered(**overrides))


def command(body: dict[str, Any]) -> ReportOutcome | Refusal:
    return read_command(ReportOutcome, body)


def routing_keys(store: MemoryDispatcherStore) -> list[str]:
    return [published.routing_key for published in store.published]


async def assigned_one(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, **overrides: Any
) -> ApplicationAssigned:
    await dispatcher.register(event(**overrides), "corr-1")
    assignment = store.published[-1]
    assert isinstance(assignment, ApplicationAssigned)
    return assignment


# --- application.registered -------------------------------------------------------------


async def test_a_registered_application_is_forwarded_and_assigned_in_one_write(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    registration = event()

    outcome = await dispatcher.register(registration, "corr-1")

    assert outcome.reply is None
    assert outcome.log == {"outcome": "assigned", "district": "BAK-NAS"}
    assert routing_keys(store) == ["application.forwarded", "application.assigned"]
    stored = await store.work_order(registration.application_number)
    assert stored is not None
    assert (stored["status"], stored["team_id"], stored["sequence"]) == ("assigned", "T-01", 3)
    assert (stored["meter_reserved"], stored["correlation_id"]) == (True, "corr-1")
    assert stored["version"] == 1, "forwarded and assigned are stored in one write"


async def test_an_application_seen_before_is_a_duplicate_and_changes_nothing(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    registration = event()
    await dispatcher.register(registration, None)

    outcome = await dispatcher.register(registration, None)

    assert outcome.log["outcome"] == "duplicate"
    assert len(store.published) == 2
    assert (await level(store, "BAK-NAS")).reserved == 1


async def test_an_application_replayed_after_it_was_completed_takes_nothing(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    """A day later: no meter reserved and no slot taken today; the stock and the team's days
    stay as the first delivery left them."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    registration = event(application_number=assignment.application_number)
    body = report(assignment.model_dump())
    assert (await dispatcher.report(command(body), "m-1", "guest")).log["outcome"] == "accepted"
    published = len(store.published)
    clock.next_day()

    outcome = await dispatcher.register(registration, None)

    assert outcome.log["outcome"] == "duplicate"
    assert len(store.published) == published
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, 1, 1)
    loads = await store.team_loads("2026-11-27", ["T-01"])
    assert loads.get("T-01", []) == [], "no slot taken today"
    first_day = await store.team_loads("2026-11-26", ["T-01"])
    assert first_day["T-01"] == [assignment.application_number], "its own day kept"


async def test_with_no_team_free_the_work_order_waits_and_keeps_its_meter(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 2})

    outcome = await dispatcher.register(event(), None)

    assert outcome.log["outcome"] == "waiting"
    assert routing_keys(store) == ["application.forwarded"]
    assert (await level(store, "BAK-NAS")).reserved == 1


async def test_a_copy_that_loses_the_race_gives_back_the_team_slot_it_took(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-NAS")], {"BAK-NAS": 2})
    registration = event()
    number = registration.application_number

    async def the_other_copy_wins() -> None:
        store.before_save = None
        winner, events = workorders.opened(
            workorders.Application.from_event(registration), clock(), True, None
        )
        winner, more = workorders.assigned(winner, team("T-02", "BAK-NAS"), "2026-11-26", clock())
        await store.claim(team("T-02", "BAK-NAS"), "2026-11-26", number)
        assert await store.save_and_publish(winner, [*events, *more])

    store.before_save = the_other_copy_wins
    outcome = await dispatcher.register(registration, None)

    assert outcome.log["outcome"] == "duplicate"
    loads = await store.team_loads("2026-11-26", ["T-01", "T-02"])
    assert loads == {"T-01": [], "T-02": [number]}
    assert (await level(store, "BAK-NAS")).reserved == 1, "the winner keeps the meter"
    assert routing_keys(store) == ["application.forwarded", "application.assigned"]


@pytest.mark.parametrize("name", ["application_number", "district_code", "reason_code"])
async def test_a_registration_naming_no_place_to_go_is_malformed(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, name: str
) -> None:
    with pytest.raises(MalformedMessage, match=name):
        await dispatcher.register(event(**{name: "  "}), None)
    assert store.documents == {}


@pytest.mark.parametrize(
    "model",
    [model for model in EVENT_MODELS if model is not ApplicationRegistered],
    ids=lambda model: model.routing_key,
)
async def test_every_other_event_is_ignored(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, model: type[DomainEvent]
) -> None:
    other: Any = model.model_construct(
        application_number="SQ-2026-000001", occurred_at="2026-11-26T10:00:00.000+04:00"
    )
    outcome = await dispatcher.follow(other, None)
    assert outcome.log == {"outcome": "ignored", "event_type": model.routing_key}
    assert store.documents == {}


# --- housekeeping -----------------------------------------------------------------------


async def test_waiting_work_orders_are_assigned_oldest_first_when_a_new_day_brings_capacity(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=1)], {"GNC-01": 5})
    first = await assigned_one(dispatcher, store, district_code="GNC-01")
    late = [event(district_code="GNC-01") for _ in range(2)]
    for registration in late:
        await dispatcher.register(registration, None)
    assert await dispatcher.assign_waiting() == 0

    clock.next_day()

    assert await dispatcher.assign_waiting() == 1
    assignment = store.published[-1]
    assert isinstance(assignment, ApplicationAssigned)
    assert assignment.application_number == late[0].application_number
    assert (assignment.team_id, assignment.sequence) == (first.team_id, 3)
    stored = await store.work_order(late[0].application_number)
    assert stored is not None
    assert stored["assigned_day"] == "2026-11-27"


async def test_capacity_that_appears_during_a_round_goes_to_the_oldest_in_the_next(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=0)], {"GNC-01": 5})
    bodies = [event(district_code="GNC-01") for _ in range(3)]
    for registration in bodies:
        await dispatcher.register(registration, None)
    loads = store.team_loads

    async def imported_meanwhile(day: str, team_ids: Any) -> dict[str, list[str]]:
        await store.upsert_teams([team("T-01", "GNC-01", capacity=2)])
        return await loads(day, team_ids)

    store.team_loads = imported_meanwhile  # type: ignore[method-assign]
    assert await dispatcher.assign_waiting() == 0
    store.team_loads = loads  # type: ignore[method-assign]
    assert await dispatcher.assign_waiting() == 2

    assigned = [e.application_number for e in store.published if isinstance(e, ApplicationAssigned)]
    assert assigned == [bodies[0].application_number, bodies[1].application_number]


async def test_a_waiting_work_order_changed_meanwhile_gives_its_slot_back(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=0)], {"GNC-01": 1})
    registration = event(district_code="GNC-01")
    await dispatcher.register(registration, None)
    await store.upsert_teams([team("T-01", "GNC-01", capacity=1)])
    number = registration.application_number

    async def another_dispatcher_writes() -> None:
        store.before_save = None
        store.documents[number]["version"] += 1

    store.before_save = another_dispatcher_writes
    assert await dispatcher.assign_waiting() == 0
    assert await store.team_loads("2026-11-26", ["T-01"]) == {"T-01": []}
    assert await dispatcher.assign_waiting() == 1


@pytest.mark.parametrize(
    ("pending", "consumed", "available"), [("consume", 1, 2), ("release", 0, 3)]
)
async def test_a_stock_change_a_crash_interrupted_is_finished_once(
    dispatcher: Dispatcher,
    store: MemoryDispatcherStore,
    pending: str,
    consumed: int,
    available: int,
) -> None:
    await given(store, stock={"BAK-NAS": 3})
    assert await store.reserve("BAK-NAS", "SQ-2026-900001")
    store.documents["SQ-2026-900001"] = {
        "_id": "SQ-2026-900001",
        "work_order_id": "WO-2026-900001",
        "district_code": "BAK-NAS",
        "status": "completed",
        "stock_pending": pending,
        "created_at": "2026-11-26T06:00:00.000Z",
        "version": 3,
    }

    assert await dispatcher.settle_pending() == 1
    assert await dispatcher.settle_pending() == 0

    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed, stock.available) == (0, consumed, available)
    assert "stock_pending" not in store.documents["SQ-2026-900001"]


async def test_housekeeping_settles_stock_then_assigns_and_survives_a_failed_round(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "GNC-01", capacity=0)], {"GNC-01": 1})
    registration = event(district_code="GNC-01")
    await dispatcher.register(registration, None)
    await store.upsert_teams([team("T-01", "GNC-01", capacity=1)])
    real = store.work_orders
    calls: list[str] = []

    async def flaky(**kwargs: Any) -> list[dict[str, Any]]:
        calls.append("pending" if kwargs.get("stock_pending") else "waiting")
        if len(calls) == 1:
            raise ConnectionError("database unreachable")
        return await real(**kwargs)

    store.work_orders = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(Housekeeping(dispatcher, interval=0.01).run())
    for _ in range(200):
        if "application.assigned" in routing_keys(store):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert calls[:3] == ["pending", "pending", "waiting"]
    assert "application.assigned" in routing_keys(store)


# --- dispatcher.report_outcome ----------------------------------------------------------


async def test_a_report_closes_the_work_order_consumes_its_meter_and_is_accepted(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)

    outcome = await dispatcher.report(command(report(assignment.model_dump())), "m-1", "guest")

    assert outcome.reply == Accepted()
    assert outcome.log == {"outcome": "accepted", "report": "installed"}
    completed = store.published[-1]
    assert isinstance(completed, ApplicationCompleted)
    assert (completed.sequence, completed.team_id) == (4, "T-01")
    assert completed.act.model_dump() == act()
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed) == (0, 1)
    stored = await store.work_order(assignment.application_number)
    assert stored is not None
    assert (stored["status"], stored["report_message_id"]) == ("completed", "m-1")
    assert "stock_pending" not in stored


async def test_a_report_redelivered_after_a_crash_gets_its_first_reply_and_finishes_its_stock(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    body = report(assignment.model_dump())
    parsed = command(body)
    assert isinstance(parsed, ReportOutcome)
    # The first delivery closed the work order, then the process died before the stock.
    current = await store.work_order(assignment.application_number)
    assert current is not None
    closed, events = workorders.reported(current, parsed, clock(), "m-1", Accepted())
    assert await store.save_and_publish(closed, events, replacing=current)

    outcome = await dispatcher.report(command({**body, "outcome": "not_executed"}), "m-1", "guest")

    assert outcome.reply == Accepted()
    assert outcome.log == {"outcome": "accepted", "duplicate": True}
    assert (await level(store, "BAK-NAS")).consumed == 1
    assert routing_keys(store).count("application.completed") == 1


async def test_a_report_that_lost_a_race_is_tried_again_on_the_fresh_work_order(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number

    async def the_relay_writes_first() -> None:  # e.g. it removed published outbox entries
        store.before_save = None
        store.documents[number]["version"] += 1

    store.before_save = the_relay_writes_first
    outcome = await dispatcher.report(command(report(assignment.model_dump())), None, "guest")

    assert outcome.log["outcome"] == "accepted"
    assert routing_keys(store).count("application.completed") == 1


async def test_a_work_order_that_keeps_changing_leaves_the_report_to_be_retried(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number
    writes = 0

    async def always_first() -> None:
        nonlocal writes
        writes += 1
        store.documents[number]["version"] += 1

    store.before_save = always_first
    with pytest.raises(WorkOrderBusy, match=number):
        await dispatcher.report(command(report(assignment.model_dump())), "m-1", "guest")

    assert writes == WRITE_ATTEMPTS
    assert "application.completed" not in routing_keys(store)
    assert (await level(store, "BAK-NAS")).reserved == 1
    assert await store.refusal_for("m-1") is None


async def test_a_refusal_is_remembered_only_for_a_report_with_a_message_id(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    body = report({"application_number": "SQ-1", "work_order_id": "WO-1", "team_id": "T-1"})

    refused = await dispatcher.report(command(body), None, "guest")
    assert isinstance(refused.reply, Refused)
    assert refused.log == {"outcome": "refused", "codes": ["unknown_work_order"]}
    assert store.refusals == {}

    await dispatcher.report(command(body), "m-1", "guest")
    again = await dispatcher.report(command(report(body, "not_executed")), "m-1", "guest")
    assert again.reply == refused.reply
    assert again.log == {"outcome": "refused", "duplicate": True}


# --- dispatcher.receive_stock -----------------------------------------------------------


async def test_stock_without_a_message_id_counts_every_time(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    receipt = ReceiveStock(district_code="GNC-01", quantity=2)
    first = await dispatcher.receive_stock(receipt, None)
    second = await dispatcher.receive_stock(receipt, None)
    assert (first.reply, second.reply) == (StockAccepted(in_stock=2), StockAccepted(in_stock=4))
    assert second.log == {"outcome": "accepted", "district": "GNC-01", "in_stock": 4}
    same = str(uuid.uuid4())
    await dispatcher.receive_stock(receipt, same)
    assert (await dispatcher.receive_stock(receipt, same)).reply == StockAccepted(in_stock=6)


async def test_a_receipt_sent_again_adds_nothing_and_answers_the_free_meters_now(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "GNC-01")])
    receipt = ReceiveStock(district_code="GNC-01", quantity=3)
    first = await dispatcher.receive_stock(receipt, "receipt-1")
    await dispatcher.register(event(district_code="GNC-01"), None)  # reserves one meter
    clock.now += timedelta(days=6)

    again = await dispatcher.receive_stock(receipt, "receipt-1")

    assert first.reply == StockAccepted(in_stock=3)
    assert again.reply == StockAccepted(in_stock=2), "today's free stock, not the first answer"
    assert again.log == {
        "outcome": "accepted",
        "district": "GNC-01",
        "in_stock": 2,
        "duplicate": True,
    }
    assert (await level(store, "GNC-01")).received == 3


async def test_a_dispatch_looks_for_a_repeat_and_reads_the_teams_loads_at_once(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    """The look for an earlier work order and the read of the teams' loads today are both
    under way before either answers: a dispatch waits for one round trip there, not two."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    work_order, team_loads = store.work_order, store.team_loads
    started: list[str] = []
    both = asyncio.Event()

    async def slow(name: str, read: Any, *args: Any) -> Any:
        started.append(name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 1)  # times out if the reads go one by one
        return await read(*args)

    store.work_order = partial(slow, "repeat", work_order)  # type: ignore[method-assign]
    store.team_loads = partial(slow, "loads", team_loads)  # type: ignore[method-assign]
    outcome = await dispatcher.register(event(district_code="BAK-NAS"), None)

    assert outcome.log["outcome"] == "assigned"
    assert sorted(started) == ["loads", "repeat"]


async def test_a_dispatch_reserves_its_meter_and_claims_its_team_at_once(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    """The meter's reservation and the team's claim are both under way before either
    answers: a dispatch waits for one round trip there, not two."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    reserve, claim = store.reserve, store.claim
    started: list[str] = []
    both = asyncio.Event()

    async def slow(name: str, write: Any, *args: Any) -> Any:
        started.append(name)
        if len(started) == 2:
            both.set()
        await asyncio.wait_for(both.wait(), 1)  # times out if the writes go one by one
        return await write(*args)

    store.reserve = partial(slow, "reserve", reserve)  # type: ignore[method-assign]
    store.claim = partial(slow, "claim", claim)  # type: ignore[method-assign]
    registration = event(district_code="BAK-NAS")
    outcome = await dispatcher.register(registration, None)

    assert outcome.log["outcome"] == "assigned"
    assert sorted(started) == ["claim", "reserve"]
    assert (await level(store, "BAK-NAS")).reserved == 1
    loads = await store.team_loads("2026-11-26", ["T-01"])
    assert loads == {"T-01": [registration.application_number]}


async def test_an_application_rejected_for_want_of_a_meter_gives_its_slot_back_before_it_is_stored(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=1)], {"BAK-NAS": 1})
    await dispatcher.register(event(district_code="BAK-NAS"), None)  # the only meter
    await store.unclaim("T-01", "2026-11-26", store.published[-1].application_number)
    slots_when_saved: list[dict[str, list[str]]] = []

    async def look_at_the_slots() -> None:
        slots_when_saved.append(await store.team_loads("2026-11-26", ["T-01"]))

    store.before_save = look_at_the_slots
    outcome = await dispatcher.register(event(district_code="BAK-NAS"), None)

    assert outcome.log["outcome"] == "rejected"
    assert slots_when_saved == [{"T-01": []}], "given back before the work order is stored"
    assert routing_keys(store)[-2:] == ["application.forwarded", "application.rejected"]
    assert (await level(store, "BAK-NAS")).available == 0


async def test_a_failed_reservation_leaves_the_claimed_slot_to_the_retry(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    """Reserving and claiming go at once, so one may fail after the other held its part:
    the event is retried, and the retry finds the slot its number holds (no second one)."""
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-NAS")], {"BAK-NAS": 2})
    reserve = store.reserve
    failures = [ConnectionError("the database went away")]

    async def fails_once(district: str, number: str) -> bool:
        await asyncio.sleep(0)  # the claim is under way meanwhile
        if failures:
            raise failures.pop()
        return await reserve(district, number)

    store.reserve = fails_once  # type: ignore[method-assign]
    registration = event(district_code="BAK-NAS")
    number = registration.application_number
    with pytest.raises(ConnectionError):
        await dispatcher.register(registration, None)
    held = await store.team_loads("2026-11-26", ["T-01", "T-02"])
    assert held == {"T-01": [number]}, "the claim went through"
    assert store.published == []

    outcome = await dispatcher.register(registration, None)

    assert outcome.log["outcome"] == "assigned"
    assert await store.team_loads("2026-11-26", ["T-01", "T-02"]) == held
    assert (await level(store, "BAK-NAS")).reserved == 1
    assigned = store.published[-1]
    assert isinstance(assigned, ApplicationAssigned)
    assert assigned.team_id == "T-01"


def count_refusal_reads(store: MemoryDispatcherStore) -> list[str]:
    """The message ids ``store.refusal_for`` is asked for from now on."""
    asked: list[str] = []
    refusal_for = store.refusal_for

    async def counted(message_id: str) -> Refused | None:
        asked.append(message_id)
        return await refusal_for(message_id)

    store.refusal_for = counted  # type: ignore[method-assign]
    return asked


async def test_a_report_of_a_work_order_that_lists_no_refusal_of_it_reads_only_the_work_order(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    """The work order read tells that no refusal of this message is stored: a report waits
    for that one read, and nothing else is looked up before it is closed."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    asked = count_refusal_reads(store)

    outcome = await dispatcher.report(command(report(assignment.model_dump())), "m-1", "guest")

    assert outcome.reply == Accepted()
    assert asked == []
    assert store.documents[assignment.application_number]["refused_reports"] == []


async def test_a_refused_report_is_listed_on_its_work_order_and_a_repeat_gets_the_first_reply(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number
    other = "T-02" if assignment.team_id == "T-01" else "T-01"
    wrong_team = report({**assignment.model_dump(), "team_id": other})
    first = await dispatcher.report(command(wrong_team), "m-1", "guest")
    assert isinstance(first.reply, Refused)
    assert [error.code.value for error in first.reply.errors] == ["wrong_team"]
    assert store.documents[number]["refused_reports"] == ["m-1"]
    asked = count_refusal_reads(store)

    # The right team's report closes it; the refused message, sent again, is still refused
    # with its first reply (not ``work_order_closed``), and is listed once.
    closing = await dispatcher.report(command(report(assignment.model_dump())), "m-2", "guest")
    again = await dispatcher.report(command(wrong_team), "m-1", "guest")

    assert closing.reply == Accepted()
    assert again.reply == first.reply
    assert again.log == {"outcome": "refused", "duplicate": True}
    assert asked == ["m-1"], "only the listed message's refusal is read"
    assert store.documents[number]["refused_reports"] == ["m-1"]


async def test_a_work_order_stored_without_the_list_looks_for_every_reports_refusal(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    """A work order written before ``refused_reports`` was kept: a refusal stored for it
    then is found, and none is listed now (a new list would hide the older refusals)."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number
    del store.documents[number]["refused_reports"]
    earlier = Refused(errors=[reports.forbidden_team()])
    store.refusals["m-0"] = earlier
    asked = count_refusal_reads(store)

    again = await dispatcher.report(command(report(assignment.model_dump())), "m-0", "guest")
    closing = await dispatcher.report(command(report(assignment.model_dump())), "m-1", "guest")
    refused = await dispatcher.report(command(report(assignment.model_dump())), "m-2", "guest")

    assert again.reply == earlier
    assert closing.reply == Accepted()
    assert isinstance(refused.reply, Refused)
    assert asked == ["m-0", "m-1", "m-2"]
    assert "refused_reports" not in store.documents[number]
    assert store.refusals["m-2"] == refused.reply


async def test_a_work_order_lists_a_bounded_number_of_refusals_then_every_one_is_looked_up(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number
    body = report(assignment.model_dump())
    await dispatcher.report(command(body), "m-closing", "guest")
    for index in range(reports.REFUSALS_LISTED + 3):
        refused = await dispatcher.report(command(body), f"m-{index}", "guest")
        assert isinstance(refused.reply, Refused)
    listed = store.documents[number]["refused_reports"]
    assert listed == [f"m-{index}" for index in range(reports.REFUSALS_LISTED)]
    asked = count_refusal_reads(store)

    last = f"m-{reports.REFUSALS_LISTED + 2}"
    again = await dispatcher.report(command(body), last, "guest")

    assert again.log == {"outcome": "refused", "duplicate": True}
    assert asked == [last], "past the bound, a message not listed is looked up too"


# --- concurrent copies of one report ----------------------------------------------------


async def test_a_copy_that_finds_the_work_order_closed_by_its_own_message_is_accepted(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    parsed = command(report(assignment.model_dump()))
    assert isinstance(parsed, ReportOutcome)
    read_by_id = store.work_order_by_id

    async def the_other_copy_closes_it_first(work_order_id: str) -> Any:
        # Between this copy's look for an earlier answer and its read of the work order.
        current = await read_by_id(work_order_id)
        closed, events = workorders.reported(current, parsed, clock(), "m-1", Accepted())
        assert await store.save_and_publish(closed, events, replacing=current)
        store.work_order_by_id = read_by_id  # type: ignore[method-assign]
        return await read_by_id(work_order_id)

    store.work_order_by_id = the_other_copy_closes_it_first  # type: ignore[method-assign]
    outcome = await dispatcher.report(parsed, "m-1", "guest")

    assert outcome.reply == Accepted()
    assert outcome.log == {"outcome": "accepted", "duplicate": True}
    assert store.refusals == {}, "no refusal is stored for a copy of an accepted report"
    assert routing_keys(store).count("application.completed") == 1
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.consumed) == (0, 1)


async def test_many_concurrent_copies_of_one_report_all_get_accepted(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    body = report(assignment.model_dump())

    shuffle = random.Random(11)
    read_by_id, read_by_message = store.work_order_by_id, store.work_order_by_message

    async def interleaved(read: Any, key: str) -> Any:
        for _ in range(shuffle.randrange(4)):  # the copies overtake each other at every read
            await asyncio.sleep(0)
        return await read(key)

    store.work_order_by_id = lambda key: interleaved(read_by_id, key)  # type: ignore[method-assign]
    store.work_order_by_message = lambda key: interleaved(read_by_message, key)  # type: ignore[method-assign]
    outcomes = await asyncio.gather(
        *(dispatcher.report(command(body), "m-1", "guest") for _ in range(40))
    )

    assert [outcome.reply for outcome in outcomes] == [Accepted()] * 40
    assert store.refusals == {}
    assert routing_keys(store).count("application.completed") == 1


async def test_another_report_on_a_closed_work_order_is_still_refused_and_remembered(
    dispatcher: Dispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    body = report(assignment.model_dump())
    await dispatcher.report(command(body), "m-1", "guest")

    second = await dispatcher.report(command(body), "m-2", "guest")

    assert isinstance(second.reply, Refused)
    assert [error.code.value for error in second.reply.errors] == ["work_order_closed"]
    assert await store.refusal_for("m-2") == second.reply


# --- housekeeping: bounded team days ----------------------------------------------------


async def test_team_days_older_than_a_week_are_forgotten_once_a_day(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=9)], {"BAK-NAS": 20})
    for _ in range(9):
        await dispatcher.register(event(), None)
        clock.next_day()
    assert len(store.team_days) == 9

    assert await dispatcher.forget_old_days() == 2
    assert await dispatcher.forget_old_days() == 0, "nothing more until the next day"
    clock.next_day()
    assert await dispatcher.forget_old_days() == 1
    assert sorted(row["day"] for row in store.team_days.values())[0] == "2026-11-29"


async def test_a_work_order_id_drawn_twice_fails_the_event_for_a_retry_that_draws_anew(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    first = await assigned_one(dispatcher, store)
    drawn = iter([first.work_order_id, "WO-00000000000000AB"])
    monkeypatch.setattr(workorders, "new_work_order_id", lambda: next(drawn))
    registration = event()

    with pytest.raises(WorkOrderIdTaken):
        await dispatcher.register(registration, None)
    outcome = await dispatcher.register(registration, None)  # the redelivery

    assert outcome.log["outcome"] == "assigned"
    stored = await store.work_order(registration.application_number)
    assert stored is not None
    assert stored["work_order_id"] == "WO-00000000000000AB"
    assert (await level(store, "BAK-NAS")).reserved == 2, "one meter each, none leaked"
    loads = await store.team_loads("2026-11-26", ["T-01"])
    assert len(loads["T-01"]) == 2


# --- work orders no queue of their team took ----------------------------------------------


async def mark(store: MemoryDispatcherStore, number: str, order_id: str, now: datetime) -> None:
    """What the store does when the work order's message comes back."""
    offer_at = workorders.next_offer(now, now)
    assert await store.mark_unrouted(number, order_id, stamp(now), stamp(offer_at))


async def test_a_work_order_that_came_back_is_offered_again_until_its_team_takes_it(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number, order_id = assignment.application_number, assignment.work_order_id
    store.field_published.clear()
    store.bound_teams = set()  # T-01's field app has bound no queue yet
    came_back = clock()
    await mark(store, number, order_id, came_back)

    # Not before RESEND_AFTER; then tried, and still no queue: the next try is later.
    assert await dispatcher.resend_unrouted() == 0
    clock.now += workorders.RESEND_AFTER
    assert await dispatcher.resend_unrouted() == 0
    stored = await store.work_order(number)
    assert stored is not None
    assert stored["unrouted_at"] == stamp(came_back)
    assert stored["offer_at"] == stamp(clock() + workorders.RESEND_AFTER)
    assert store.field_published == []

    # The team binds its queue: at the next try it gets the work order, once.
    store.bound_teams = {"T-01"}
    clock.now += timedelta(seconds=1)
    assert await dispatcher.resend_unrouted() == 0, "not again before its next offer"
    clock.now += workorders.RESEND_AFTER
    assert await Housekeeping(dispatcher).run_once() is None
    [sent] = store.field_published
    assert (sent.work_order_id, sent.application_number, sent.team_id) == (
        order_id,
        number,
        "T-01",
    )
    stored = await store.work_order(number)
    assert stored is not None
    assert "unrouted_at" not in stored
    assert "offer_at" not in stored
    clock.now += workorders.RESEND_MAX
    assert await dispatcher.resend_unrouted() == 0
    assert len(store.field_published) == 1


async def test_the_offers_of_a_work_order_no_queue_takes_grow_apart_up_to_a_limit(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    """A team that never binds its queue costs an offer every RESEND_MAX, not every 15 s."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    number = assignment.application_number
    store.bound_teams = set()
    came_back = clock()
    await mark(store, number, assignment.work_order_id, came_back)
    offered: list[float] = []
    tries = store.send_to_field

    async def counted(message: Any) -> bool:
        offered.append((clock() - came_back).total_seconds())
        return await tries(message)

    store.send_to_field = counted  # type: ignore[method-assign]
    for _ in range(60 * 60 // 5):  # an hour, a housekeeping round every 5 s
        clock.now += timedelta(seconds=5)
        await dispatcher.resend_unrouted()

    assert offered[:6] == [15, 30, 60, 120, 240, 480]
    gaps = [later - earlier for earlier, later in itertools.pairwise(offered)]
    assert gaps[:5] == [15, 30, 60, 120, 240]
    assert set(gaps[5:]) == {300}
    assert len(offered) == 6 + (3600 - 480) // 300
    # Once the team binds, the next offer reaches it at most RESEND_MAX later.
    store.bound_teams = {"T-01"}
    for _ in range(300 // 5):
        clock.now += timedelta(seconds=5)
        await dispatcher.resend_unrouted()
    assert [message.application_number for message in store.field_published[-1:]] == [number]


@pytest.mark.parametrize("came_back", [None, "yesterday", "2026-11-27T08:00:00"])
async def test_a_mark_without_a_readable_time_is_still_offered(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock, came_back: Any
) -> None:
    """A mark edited by hand (no ``unrouted_at``, or no time in it) breaks no round."""
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    store.field_published.clear()
    await mark(store, assignment.application_number, assignment.work_order_id, clock())
    stored = store.documents[assignment.application_number]
    if came_back is None:
        del stored["unrouted_at"]
    else:
        stored["unrouted_at"] = came_back
    store.bound_teams = set()
    clock.now += workorders.RESEND_AFTER
    assert await dispatcher.resend_unrouted() == 0
    assert store.documents[assignment.application_number]["offer_at"] > stamp(clock())
    store.bound_teams = {"T-01"}
    clock.now += workorders.RESEND_MAX
    assert await dispatcher.resend_unrouted() == 1
    assert [m.work_order_id for m in store.field_published] == [assignment.work_order_id]


async def test_a_work_order_another_dispatcher_took_is_not_sent_twice(
    dispatcher: Dispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    assignment = await assigned_one(dispatcher, store)
    store.field_published.clear()
    await mark(store, assignment.application_number, assignment.work_order_id, clock())
    clock.now += workorders.RESEND_AFTER
    read = store.unrouted

    async def both_read(now: str, limit: int = 100) -> list[dict[str, Any]]:
        found = await read(now, limit)
        await asyncio.sleep(0)  # the other dispatcher reads the same mark before either moves
        return found

    store.unrouted = both_read  # type: ignore[method-assign]
    other = Dispatcher(store, clock)
    sent = await asyncio.gather(dispatcher.resend_unrouted(), other.resend_unrouted())
    assert sorted(sent) == [0, 1]
    assert len(store.field_published) == 1
