"""A citizen withdraws an application before a team is assigned (in-process, docs/integration.md).

The dispatcher's routes are called directly over the in-memory store; races are staged
with the store's ``before_save`` hook (another writer gets in just before a write). The
same journey over the real broker is in ``test_journey_broker``.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.dispatcher.domain import teams, withdrawals
from shared.contracts.errors import ErrorCode, error_text
from tests.dispatcher.conftest import (
    LocalDispatcher,
    MovableClock,
    given,
    level,
    registered,
    report,
    team,
    withdrawal,
)
from tests.dispatcher.fakes import MemoryDispatcherStore

WITHDRAW = "dispatcher.withdraw_application"


@pytest.fixture
def store(local: LocalDispatcher) -> MemoryDispatcherStore:
    return local.store


async def withdraw(local: LocalDispatcher, body: dict[str, Any]) -> dict[str, Any]:
    reply = await local.field_app.request(WITHDRAW, body)
    assert isinstance(reply.body, dict)
    return reply.body


async def waiting_one(local: LocalDispatcher, **overrides: Any) -> dict[str, Any]:
    """A registered application whose work order waits for a team (none has capacity)."""
    await given(local.store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 3})
    body = registered("BAK-NAS", **overrides)
    await local.publish_registered(body)
    stored = await local.store.work_order(body["application_number"])
    assert stored is not None
    assert stored["status"] == "waiting"
    return body


def refusal(code: ErrorCode, language: str = "az") -> dict[str, Any]:
    return {
        "outcome": "refused",
        "errors": [
            {
                "field": "application_number",
                "code": code.value,
                "message": error_text(code, language, field="application_number"),
            }
        ],
    }


def routing_keys(store: MemoryDispatcherStore) -> list[str]:
    return [event.routing_key for event in store.published]


# --- while waiting ------------------------------------------------------------------------


async def test_withdrawing_a_waiting_application_frees_its_meter_and_publishes_withdrawn(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    number = body["application_number"]
    assert (await level(store, "BAK-NAS")).available == 2

    assert await withdraw(local, withdrawal(body)) == {"outcome": "withdrawn"}

    stored = await store.work_order(number)
    assert stored is not None
    assert stored["status"] == "withdrawn"
    assert "stock_pending" not in stored, "the meter was given back at once"
    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (0, 3)
    [event] = local.events.bodies("application.withdrawn")
    assert event == {
        "application_number": number,
        "occurred_at": "2026-11-26T10:00:00.000+04:00",
        "sequence": 3,
        "work_order_id": stored["work_order_id"],
    }
    assert routing_keys(store) == ["application.forwarded", "application.withdrawn"]


async def test_a_withdrawal_gives_back_the_team_day_slot_a_crash_left_claimed(
    local: LocalDispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    body = await waiting_one(local)
    number = body["application_number"]
    # Capacity appears; housekeeping claims a slot for the work order, then stops.
    roomy = team("T-01", "BAK-NAS", capacity=1)
    await store.upsert_teams([roomy])
    today = teams.capacity_day(clock())
    assert await store.claim(roomy, today, number)

    assert await withdraw(local, withdrawal(body)) == {"outcome": "withdrawn"}

    assert await store.team_loads(today, ["T-01"]) == {"T-01": []}
    later = registered("BAK-NAS")
    await local.publish_registered(later)
    [assigned] = local.events.bodies("application.assigned")
    assert (assigned["application_number"], assigned["team_id"]) == (
        later["application_number"],
        "T-01",
    ), "the slot went to the next application"


async def test_an_application_that_needs_no_meter_is_withdrawn_with_the_stock_untouched(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local, reason="register_existing")

    assert await withdraw(local, withdrawal(body)) == {"outcome": "withdrawn"}

    stock = await level(store, "BAK-NAS")
    assert (stock.received, stock.reserved, stock.available) == (3, 0, 3)
    assert len(local.events.bodies("application.withdrawn")) == 1


async def test_the_applicants_fin_is_compared_normalized(local: LocalDispatcher) -> None:
    body = await waiting_one(local)

    reply = await withdraw(local, withdrawal(body, applicant_fin="  5abcd12 "))

    assert reply == {"outcome": "withdrawn"}


async def test_withdrawing_again_answers_withdrawn_and_publishes_nothing_more(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    await withdraw(local, withdrawal(body))

    assert await withdraw(local, withdrawal(body)) == {"outcome": "withdrawn"}
    assert await withdraw(local, withdrawal(body, language="en")) == {"outcome": "withdrawn"}

    assert len(local.events.bodies("application.withdrawn")) == 1
    assert (await level(store, "BAK-NAS")).available == 3


# --- refused ------------------------------------------------------------------------------


async def test_after_a_team_is_assigned_the_application_cannot_be_withdrawn(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    body = registered("BAK-NAS", language="en")
    await local.publish_registered(body)

    reply = await withdraw(local, withdrawal(body))

    assert reply == refusal(ErrorCode.CANNOT_WITHDRAW, "en")
    assert routing_keys(store) == ["application.forwarded", "application.assigned"]
    assert (await level(store, "BAK-NAS")).reserved == 1, "the team keeps its meter"


async def test_an_application_rejected_for_want_of_a_meter_cannot_be_withdrawn(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 0})
    body = registered("BAK-NAS")
    await local.publish_registered(body)
    assert local.events.bodies("application.rejected")

    assert await withdraw(local, withdrawal(body)) == refusal(ErrorCode.CANNOT_WITHDRAW)
    assert not local.events.bodies("application.withdrawn")


async def test_a_completed_application_cannot_be_withdrawn(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    body = registered("BAK-NAS", language="ru")
    await local.publish_registered(body)
    [assigned] = local.events.bodies("application.assigned")
    accepted = await local.field_app.request("dispatcher.report_outcome", report(assigned))
    assert accepted.body == {"outcome": "accepted"}

    assert await withdraw(local, withdrawal(body)) == refusal(ErrorCode.CANNOT_WITHDRAW, "ru")
    assert (await level(store, "BAK-NAS")).consumed == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"applicant_fin": "7XYZ987"}, id="someone-elses"),
        pytest.param({"application_number": "SQ-2026-999999"}, id="unknown"),
        pytest.param({"application_number": "sq-2026-000001 x"}, id="not-a-number"),
    ],
)
async def test_someone_elses_or_an_unknown_number_is_not_found(
    change: dict[str, str], local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)

    reply = await withdraw(local, withdrawal(body, **change))

    assert reply == refusal(ErrorCode.NOT_FOUND)
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert stored["status"] == "waiting"
    assert (await level(store, "BAK-NAS")).reserved == 1


async def test_someone_else_asking_about_a_withdrawn_application_is_told_not_found(
    local: LocalDispatcher,
) -> None:
    body = await waiting_one(local)
    await withdraw(local, withdrawal(body))

    reply = await withdraw(local, withdrawal(body, applicant_fin="7XYZ987"))

    assert reply == refusal(ErrorCode.NOT_FOUND), "whether it exists is not told"


@pytest.mark.parametrize("language", ["az", "en", "ru"])
async def test_refusals_are_in_the_requests_language(language: str, local: LocalDispatcher) -> None:
    body = await waiting_one(local)

    reply = await withdraw(local, withdrawal(body, applicant_fin="7XYZ987", language=language))

    assert reply == refusal(ErrorCode.NOT_FOUND, language)


async def test_a_withdrawal_without_a_fin_is_refused_by_the_contract(
    local: LocalDispatcher,
) -> None:
    body = await waiting_one(local)

    reply = await withdraw(local, {"application_number": body["application_number"]})

    assert reply["outcome"] == "refused"
    assert [error["field"] for error in reply["errors"]] == ["applicant_fin"]
    assert not local.events.bodies("application.withdrawn")


async def test_a_work_order_stored_without_a_fin_is_nobodys_to_withdraw(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    store.documents[body["application_number"]].pop("applicant_fin")  # stored before FINs

    assert await withdraw(local, withdrawal(body)) == refusal(ErrorCode.NOT_FOUND)


# --- before the dispatcher has seen the registration ---------------------------------------


async def test_a_withdrawal_before_the_registration_reached_the_dispatcher_is_not_found(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 3})
    body = registered("BAK-NAS")

    early = await withdraw(local, withdrawal(body))
    await local.publish_registered(body)  # the registration arrives a moment later
    again = await withdraw(local, withdrawal(body))

    assert early == refusal(ErrorCode.NOT_FOUND), "nothing is remembered from the early one"
    assert again == {"outcome": "withdrawn"}
    assert routing_keys(store) == ["application.forwarded", "application.withdrawn"]


# --- races --------------------------------------------------------------------------------


async def test_of_two_concurrent_withdrawals_one_writes_and_both_answer_withdrawn(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    answers: list[dict[str, Any]] = []

    async def the_other_copy_gets_in_first() -> None:
        store.before_save = None
        answers.append(await withdraw(local, withdrawal(body)))

    store.before_save = the_other_copy_gets_in_first
    answers.append(await withdraw(local, withdrawal(body)))

    assert answers == [{"outcome": "withdrawn"}, {"outcome": "withdrawn"}]
    assert len(local.events.bodies("application.withdrawn")) == 1
    assert (await level(store, "BAK-NAS")).available == 3


async def test_an_assignment_that_writes_first_turns_the_withdrawal_into_cannot_withdraw(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    await store.upsert_teams([team("T-01", "BAK-NAS", capacity=1)])

    async def housekeeping_assigns_first() -> None:
        store.before_save = None
        assert await local.dispatcher.assign_waiting() == 1

    store.before_save = housekeeping_assigns_first
    reply = await withdraw(local, withdrawal(body))

    assert reply == refusal(ErrorCode.CANNOT_WITHDRAW)
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert (stored["status"], stored["team_id"]) == ("assigned", "T-01")
    assert routing_keys(store) == ["application.forwarded", "application.assigned"]
    assert (await level(store, "BAK-NAS")).reserved == 1


async def test_a_withdrawal_that_writes_first_stops_the_assignment_and_keeps_the_slot_free(
    local: LocalDispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    body = await waiting_one(local)
    await store.upsert_teams([team("T-01", "BAK-NAS", capacity=1)])
    answers: list[dict[str, Any]] = []

    async def the_citizen_withdraws_first() -> None:
        store.before_save = None
        answers.append(await withdraw(local, withdrawal(body)))

    store.before_save = the_citizen_withdraws_first
    assert await local.dispatcher.assign_waiting() == 0

    assert answers == [{"outcome": "withdrawn"}]
    assert routing_keys(store) == ["application.forwarded", "application.withdrawn"]
    today = teams.capacity_day(clock())
    assert await store.team_loads(today, ["T-01"]) == {"T-01": []}
    assert (await level(store, "BAK-NAS")).available == 3
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert "team_id" not in stored


# --- a crash half way ---------------------------------------------------------------------


async def test_a_withdrawal_interrupted_after_its_write_is_finished_by_housekeeping(
    local: LocalDispatcher, store: MemoryDispatcherStore, clock: MovableClock
) -> None:
    body = await waiting_one(local)
    number = body["application_number"]
    roomy = team("T-01", "BAK-NAS", capacity=1)
    await store.upsert_teams([roomy])
    today = teams.capacity_day(clock())
    assert await store.claim(roomy, today, number)
    waiting = await store.work_order(number)
    assert waiting is not None
    # The withdrawal's write, and then the dispatcher stops before giving anything back.
    changed, events = withdrawals.withdrawn(waiting, clock())
    assert await store.save_and_publish(changed, events, replacing=waiting)
    assert (await level(store, "BAK-NAS")).reserved == 1

    assert await local.dispatcher.settle_pending() == 1

    stored = await store.work_order(number)
    assert stored is not None
    assert "stock_pending" not in stored
    assert (await level(store, "BAK-NAS")).available == 3
    assert await store.team_loads(today, ["T-01"]) == {"T-01": []}
    assert await local.dispatcher.settle_pending() == 0


async def test_a_report_naming_a_withdrawn_work_order_is_refused_as_closed(
    local: LocalDispatcher, store: MemoryDispatcherStore
) -> None:
    body = await waiting_one(local)
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    await withdraw(local, withdrawal(body))
    names = {**body, "work_order_id": stored["work_order_id"], "team_id": "T-01"}

    reply = await local.field_app.request("dispatcher.report_outcome", report(names))

    assert isinstance(reply.body, dict)
    assert [error["code"] for error in reply.body["errors"]] == ["work_order_closed"]


async def test_a_late_copy_of_the_registration_leaves_no_meter_held_after_a_withdrawal(
    local: LocalDispatcher, store: MemoryDispatcherStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 3})
    body = registered("BAK-NAS")
    reserve = store.reserve

    async def the_first_copy_and_the_withdrawal_get_in_first(district: str, number: str) -> bool:
        monkeypatch.setattr(store, "reserve", reserve)
        await local.publish_registered(body)
        assert await withdraw(local, withdrawal(body)) == {"outcome": "withdrawn"}
        return await reserve(district, number)  # the late copy reserves again

    monkeypatch.setattr(store, "reserve", the_first_copy_and_the_withdrawal_get_in_first)
    await local.publish_registered(body)  # the late copy: it lost, it gives back its meter

    stock = await level(store, "BAK-NAS")
    assert (stock.reserved, stock.available) == (0, 3)
    assert routing_keys(store) == ["application.forwarded", "application.withdrawn"]
