"""Each portal's citizens see their own channel's registration text; events carry the channel,
the due date and every closing step (in-process: no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake.domain import Account, ServiceLevel
from services.intake.handlers import IntakeHandlers
from services.intake.usecases import Intake
from shared.contracts.events import ApplicationOverdue, ApplicationWithdrawn
from shared.routes import Routes
from shared.senders import Senders
from tests.intake.fakes import MemoryIntakeStore
from tests.intake.test_registration import submission
from tests.support.inprocess import LocalPortal

CHANNELS = {"portal-egov": "e-gov", "portal-azersu": "azersu", "portal-esu": "e-su"}
FULL = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)
SHORT = "Müraciətiniz qeydə alındı. Müraciət nömrəniz: {}"
FRIDAY = datetime(2026, 11, 27, 8, tzinfo=UTC)


def intake() -> tuple[Routes, MemoryIntakeStore]:
    store = MemoryIntakeStore([Account("1000001", "5ABCD12", "Bakı", "BAK-NAS")])
    routes = Routes(Senders(channels=CHANNELS))
    use_cases = Intake(store, CHANNELS, clock=lambda: FRIDAY, service_level=ServiceLevel(10))
    IntakeHandlers(use_cases).serve(routes)
    return routes, store


@pytest.mark.parametrize(
    ("user", "channel", "text"),
    [
        ("portal-egov", "e-gov", FULL),
        ("portal-azersu", "azersu", FULL),
        ("portal-esu", "e-su", SHORT),
    ],
)
async def test_each_channel_gets_its_own_registration_text(
    user: str, channel: str, text: str
) -> None:
    routes, store = intake()
    reply = await LocalPortal(routes, user).request("intake.submit_application", submission())
    number = reply.body["application_number"]
    assert reply.body["message"] == text.format(number)
    [event] = store.published
    assert (event.channel, event.due_by) == (channel, "2026-12-11")


async def test_the_e_su_text_is_translated_too() -> None:
    routes, _ = intake()
    reply = await LocalPortal(routes, "portal-esu").request(
        "intake.submit_application", submission(language="en")
    )
    number = reply.body["application_number"]
    assert reply.body["message"] == (
        f"Your application has been recorded. Your application number: {number}"
    )


async def test_a_withdrawn_application_is_closed_and_an_overdue_one_stays_open() -> None:
    routes, store = intake()
    reply = await LocalPortal(routes, "portal-egov").request(
        "intake.submit_application", submission()
    )
    number = reply.body["application_number"]
    overdue = ApplicationOverdue(
        application_number=number,
        occurred_at="2026-12-12T09:00:00+04:00",
        sequence=3,
        due_by="2026-12-11",
        district_code="BAK-NAS",
    )
    assert (await Intake(store, CHANNELS).follow(overdue)).log["outcome"] == "ignored"
    assert await store.open_application("1000001|new_installation") == number
    withdrawn = ApplicationWithdrawn(
        application_number=number, occurred_at="2026-12-12T10:00:00+04:00", sequence=4
    )
    assert (await Intake(store, CHANNELS).follow(withdrawn)).log["outcome"] == "closed"
    assert await store.open_application("1000001|new_installation") is None
