"""Due dates: an open application past ``due_by`` is announced overdue once (in-process).

The clock is the test's: 10:00 in Baku on Thursday 26 November 2026 until moved. The
housekeeping loop over the real broker is in ``test_journey_broker``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.dispatcher.background import Housekeeping
from services.dispatcher.domain import deadlines
from services.dispatcher.usecases import Dispatcher
from tests.dispatcher.conftest import (
    LocalDispatcher,
    MovableClock,
    given,
    registered,
    report,
    team,
    withdrawal,
)
from tests.dispatcher.fakes import MemoryDispatcherStore

DUE = "2026-11-27"  # the day after the clock's: a tiny service level


@pytest.fixture
def store(local: LocalDispatcher) -> MemoryDispatcherStore:
    return local.store


@pytest.fixture
def dispatcher(local: LocalDispatcher) -> Dispatcher:
    return local.dispatcher


async def register(local: LocalDispatcher, capacity: int, **overrides: Any) -> dict[str, Any]:
    """One application due ``DUE``; it waits (capacity 0) or is assigned."""
    await given(local.store, [team("T-01", "BAK-NAS", capacity=capacity)], {"BAK-NAS": 5})
    body = registered("BAK-NAS", **{"due_by": DUE, **overrides})
    await local.publish_registered(body)
    return body


def overdue(local: LocalDispatcher) -> list[dict[str, Any]]:
    return local.events.bodies("application.overdue")


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "due_by", "today", "expected"),
    [
        ("waiting", "2026-11-27", date(2026, 11, 27), False),  # due today: not yet
        ("waiting", "2026-11-27", date(2026, 11, 28), True),
        ("assigned", "2026-11-27", date(2026, 12, 1), True),
        ("completed", "2026-11-27", date(2026, 12, 1), False),
        ("rejected", "2026-11-27", date(2026, 12, 1), False),
        ("withdrawn", "2026-11-27", date(2026, 12, 1), False),
        ("waiting", None, date(2030, 1, 1), False),
    ],
)
def test_a_work_order_is_overdue_when_open_and_the_baku_date_is_after_its_due_date(
    status: str, due_by: str | None, today: date, expected: bool
) -> None:
    assert deadlines.is_overdue({"status": status, "due_by": due_by}, today) is expected


def test_the_day_turns_at_midnight_in_baku_not_in_utc() -> None:
    before = datetime(2026, 11, 27, 19, 59, tzinfo=UTC)  # 23:59 in Baku
    after = before + timedelta(minutes=1)
    open_order = {"status": "waiting", "due_by": DUE}

    assert not deadlines.is_overdue(open_order, deadlines.baku_date(before))
    assert deadlines.is_overdue(open_order, deadlines.baku_date(after))


def test_days_late_count_calendar_days_after_the_due_date() -> None:
    assert deadlines.days_late("2026-11-27", date(2026, 11, 28)) == 1
    assert deadlines.days_late("2026-11-27", date(2026, 12, 7)) == 10


# --- announcing ---------------------------------------------------------------------------


async def test_a_waiting_application_past_its_due_date_is_announced_once(
    local: LocalDispatcher,
    dispatcher: Dispatcher,
    store: MemoryDispatcherStore,
    clock: MovableClock,
) -> None:
    body = await register(local, capacity=0)
    number = body["application_number"]
    assert await dispatcher.announce_overdue() == 0
    clock.next_day()
    assert await dispatcher.announce_overdue() == 0, "due today is not late"

    clock.next_day()
    assert await dispatcher.announce_overdue() == 1

    stored = await store.work_order(number)
    assert stored is not None
    assert overdue(local) == [
        {
            "application_number": number,
            "occurred_at": "2026-11-28T10:00:00.000+04:00",
            "sequence": 3,
            "due_by": DUE,
            "district_code": "BAK-NAS",
            "work_order_id": stored["work_order_id"],
        }
    ]
    assert (stored["status"], stored["sequence"]) == ("waiting", 3), "no status changes"
    assert stored["overdue_at"] == "2026-11-28T06:00:00.000Z"
    for _ in range(3):
        clock.next_day()
        assert await dispatcher.announce_overdue() == 0, "never again"
    assert len(overdue(local)) == 1


async def test_an_assigned_application_is_announced_with_its_team(
    local: LocalDispatcher, dispatcher: Dispatcher, clock: MovableClock
) -> None:
    await register(local, capacity=1)
    clock.now += timedelta(days=2)

    assert await dispatcher.announce_overdue() == 1

    [event] = overdue(local)
    assert (event["team_id"], event["sequence"]) == ("T-01", 4)


async def test_the_housekeeping_round_announces_what_is_overdue(
    local: LocalDispatcher, dispatcher: Dispatcher, clock: MovableClock
) -> None:
    await register(local, capacity=0)
    clock.now += timedelta(days=2)

    await Housekeeping(dispatcher).run_once()
    await Housekeeping(dispatcher).run_once()

    assert len(overdue(local)) == 1


async def test_closed_and_withdrawn_applications_are_never_announced(
    local: LocalDispatcher, dispatcher: Dispatcher, clock: MovableClock
) -> None:
    await given(local.store, [team("T-01", "BAK-NAS", capacity=1)], {"BAK-NAS": 1})
    completed = registered("BAK-NAS", due_by=DUE)
    rejected = registered("BAK-NAS", due_by=DUE)  # no meter left for it
    waiting = registered("BAK-NAS", due_by=DUE, reason="register_existing")  # no team left
    await local.publish_registered(completed, rejected, waiting)
    [assigned] = local.events.bodies("application.assigned")
    await local.field_app.request("dispatcher.report_outcome", report(assigned))
    withdrawn = await local.field_app.request(
        "dispatcher.withdraw_application", withdrawal(waiting)
    )
    assert withdrawn.body == {"outcome": "withdrawn"}
    assert local.events.bodies("application.rejected")

    clock.now += timedelta(days=5)
    assert await dispatcher.announce_overdue() == 0
    assert overdue(local) == []


@pytest.mark.parametrize("due_by", [None, "soon", "2026-13-40"])
async def test_an_application_without_a_readable_due_date_is_dispatched_and_never_overdue(
    due_by: str | None,
    local: LocalDispatcher,
    dispatcher: Dispatcher,
    store: MemoryDispatcherStore,
    clock: MovableClock,
) -> None:
    body = await register(local, capacity=0, due_by=due_by)
    clock.now += timedelta(days=400)

    assert await dispatcher.announce_overdue() == 0

    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert (stored["status"], stored["due_by"]) == ("waiting", None)


async def test_after_the_announcement_the_work_order_goes_on_in_sequence(
    local: LocalDispatcher,
    dispatcher: Dispatcher,
    store: MemoryDispatcherStore,
    clock: MovableClock,
) -> None:
    body = await register(local, capacity=0)
    clock.now += timedelta(days=2)
    await dispatcher.announce_overdue()
    await store.upsert_teams([team("T-01", "BAK-NAS", capacity=1)])

    assert await dispatcher.assign_waiting() == 1

    [assigned] = local.events.bodies("application.assigned")
    assert assigned["sequence"] == 4
    reply = await local.field_app.request("dispatcher.report_outcome", report(assigned))
    assert reply.body == {"outcome": "accepted"}
    [completed] = local.events.bodies("application.completed")
    assert completed["sequence"] == 5
    assert await dispatcher.announce_overdue() == 0
    assert body["application_number"] == completed["application_number"]


async def test_of_two_dispatchers_announcing_at_once_one_publishes(
    local: LocalDispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    await register(local, capacity=0)
    clock.now += timedelta(days=2)
    other = Dispatcher(store, clock)
    counted: list[int] = []

    async def the_other_dispatcher_announces_first() -> None:
        store.before_save = None
        counted.append(await other.announce_overdue())

    store.before_save = the_other_dispatcher_announces_first
    counted.append(await local.dispatcher.announce_overdue())

    assert counted == [1, 0]
    assert len(overdue(local)) == 1


async def test_an_announcement_that_loses_to_a_withdrawal_is_not_made(
    local: LocalDispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    body = await register(local, capacity=0)
    clock.now += timedelta(days=2)

    async def the_citizen_withdraws_first() -> None:
        store.before_save = None
        reply = await local.field_app.request("dispatcher.withdraw_application", withdrawal(body))
        assert reply.body == {"outcome": "withdrawn"}

    store.before_save = the_citizen_withdraws_first
    assert await local.dispatcher.announce_overdue() == 0
    assert await local.dispatcher.announce_overdue() == 0

    assert overdue(local) == []
