"""``application.registered`` carries the subscriber code's address (in-process).

The dispatcher passes it on to the field team's work order on ``meter.field``; only intake
knows it (from its subscriber directory).
"""

from __future__ import annotations

from pathlib import Path

from meterctl.csvfile import read_rows
from services.intake.handlers import IntakeHandlers
from services.intake.reference import SUBSCRIBER_COLUMNS, subscriber_row
from services.intake.usecases import Intake
from shared.routes import Routes
from tests.intake.fakes import MemoryIntakeStore
from tests.intake.test_registration import submission
from tests.support.inprocess import LocalPortal

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "subscribers.csv"


async def test_the_registered_event_carries_the_address_of_the_subscriber_code() -> None:
    accounts, errors = read_rows(
        DEMO, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda row: row.subscriber_code
    )
    assert not errors
    store = MemoryIntakeStore(accounts)
    routes = Routes()
    IntakeHandlers(Intake(store, {"guest": "e-gov"})).serve(routes)

    reply = await LocalPortal(routes).request("intake.submit_application", submission())

    assert reply.outcome == "registered"
    [event] = store.published
    assert event.address == "Bakı, Nəsimi r-nu, Azadlıq pr. 12, mənzil 7"
    assert event.model_dump(mode="json", exclude_none=True)["address"] == event.address
