"""A well-formed submission takes its number while its account is looked up (in-process).

The number and the account are two round trips to the database; made together, a
registration waits for one of them, not both. The price is a gap in the numbers for each
well-formed submission refused on its account's rules, which the contract allows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

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
