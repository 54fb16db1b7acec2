"""A well-formed submission takes its number while its account is looked up (in-process).

The number and the account are two round trips to the database; made together, a
registration waits for one of them, not both. The price is a gap in the numbers for each
well-formed submission refused on its account's rules, which the contract allows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from services.intake import domain
from services.intake.domain import Account, ServiceLevel
from services.intake.handlers import IntakeHandlers
from services.intake.usecases import Intake
from shared.routes import Routes
from tests.intake.fakes import MemoryIntakeStore
from tests.intake.test_registration import submission
from tests.support.inprocess import LocalPortal

FRIDAY = datetime(2026, 11, 27, 8, tzinfo=UTC)
ACCOUNTS = [
    Account("1000001", "5ABCD12", "Bakı", "BAK-NAS"),
    Account("1000002", "5ABCD12", "Bakı", "BAK-NAS"),
]


class MeetingStore(MemoryIntakeStore):
    """The account lookup answers only once the number is being taken, and the number only
    once the account is being looked up: a use case that makes them one after the other
    waits here until the test's timeout."""

    def __init__(self) -> None:
        super().__init__(ACCOUNTS)
        self.asked_account = asyncio.Event()
        self.asked_number = asyncio.Event()
        self.meetings = 0

    async def account(self, subscriber_code: str) -> Account | None:
        self.asked_account.set()
        await self.asked_number.wait()
        self.meetings += 1
        return await super().account(subscriber_code)

    async def next_number(self, year: int) -> int:
        self.asked_number.set()
        await self.asked_account.wait()
        return await super().next_number(year)


def portal(store: MemoryIntakeStore) -> LocalPortal:
    routes = Routes()
    use_cases = Intake(
        store, {"guest": "e-gov"}, clock=lambda: FRIDAY, service_level=ServiceLevel(10)
    )
    IntakeHandlers(use_cases).serve(routes)
    return LocalPortal(routes)


async def test_the_number_is_taken_while_the_account_is_looked_up() -> None:
    store = MeetingStore()
    reply = await asyncio.wait_for(
        portal(store).request("intake.submit_application", submission()), timeout=5
    )
    assert reply.body["application_number"] == "SQ-2026-000001"
    assert store.meetings == 1
    [event] = store.published
    assert event.application_number == "SQ-2026-000001"


async def test_a_well_formed_submission_refused_on_its_account_leaves_a_gap() -> None:
    store = MemoryIntakeStore(ACCOUNTS)
    local = portal(store)
    unknown = await local.request("intake.submit_application", submission(subscriber_code="9"))
    assert unknown.outcome == "refused"
    assert [error["code"] for error in unknown.body["errors"]] == ["subscriber_not_found"]
    registered = await local.request("intake.submit_application", submission())
    assert registered.body["application_number"] == "SQ-2026-000002"
    assert [event.application_number for event in store.published] == ["SQ-2026-000002"]


async def test_a_malformed_submission_takes_no_number() -> None:
    store = MemoryIntakeStore(ACCOUNTS)
    local = portal(store)
    refused = await local.request("intake.submit_application", submission(phone="12"))
    assert refused.outcome == "refused"
    assert store.counters == {}
    registered = await local.request("intake.submit_application", submission())
    assert registered.body["application_number"] == "SQ-2026-000001"


# --- numbers running low ----------------------------------------------------------------


def test_numbers_left_count_down_to_none() -> None:
    assert domain.numbers_left(0) == 999_999
    assert domain.numbers_left(899_999) == 100_000
    assert domain.numbers_left(999_999) == 0
    assert domain.numbers_left(1_000_005) == 0, "never below none"


@pytest.mark.parametrize(
    ("sequence", "last_warned", "warns"),
    [
        (899_999, None, False),  # 100,000 left: not yet low
        (900_000, None, True),  # the first number with fewer left
        (900_001, 900_000, False),  # the same thousand: warned already
        (900_999, 900_000, False),
        (901_000, 900_000, True),  # the next thousand
        (901_500, 900_000, True),  # a thousand reached by a number skipped is still told
        (999_999, 999_000, False),
        (999_999, None, True),  # a process started late warns at once
    ],
)
def test_the_numbers_warning_comes_once_a_thousand_when_fewer_than_100_000_are_left(
    sequence: int, last_warned: int | None, warns: bool
) -> None:
    assert domain.numbers_warning(sequence, last_warned) is warns


def many_accounts(count: int) -> list[Account]:
    return [Account(f"{2000001 + n}", "5ABCD12", "Bakı", "BAK-NAS") for n in range(count)]


async def test_registrations_warn_in_the_log_as_the_years_numbers_run_low() -> None:
    store = MemoryIntakeStore(many_accounts(4))
    store.counters[2026] = 899_998
    local = portal(store)

    async def register(code: str) -> str:
        reply = await local.request("intake.submit_application", submission(subscriber_code=code))
        assert reply.outcome == "registered", reply.body
        return str(reply.body["application_number"])

    with capture_logs() as logs:
        numbers = [await register("2000001"), await register("2000002")]
        numbers.append(await register("2000003"))
        store.counters[2026] = 900_999
        numbers.append(await register("2000004"))

    assert numbers == ["SQ-2026-899999", "SQ-2026-900000", "SQ-2026-900001", "SQ-2026-901000"]
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [(w["event"], w["year"], w["numbers_left"]) for w in warnings] == [
        ("the year's application numbers run low", 2026, 99_999),
        ("the year's application numbers run low", 2026, 98_999),
    ]


async def test_the_numbers_left_this_year_are_read_from_the_counter() -> None:
    store = MemoryIntakeStore(ACCOUNTS)
    use_cases = Intake(store, {"guest": "e-gov"}, clock=lambda: FRIDAY)
    assert await use_cases.numbers_left() == 999_999
    store.counters[2025] = 5  # last year's count is not this year's
    store.counters[2026] = 999_000
    assert await use_cases.numbers_left() == 999
