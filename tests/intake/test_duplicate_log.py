"""A copy that loses the race to register names the application it was answered with."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from services.intake.domain import Account
from services.intake.usecases import Intake
from shared.contracts.commands import SubmitApplication
from shared.contracts.reading import read_command
from tests.intake.fakes import MemoryIntakeStore


class LateCopy(MemoryIntakeStore):
    """While ``blind``, this copy's looks miss what another copy just registered."""

    blind = False

    async def registration_for(self, submission_id: str) -> Any:
        return None if self.blind else await super().registration_for(submission_id)

    async def open_application(self, key: str) -> str | None:
        return None if self.blind else await super().open_application(key)

    async def save(self, *args: Any) -> Any:
        self.blind = False  # the unique index sees everything
        return await super().save(*args)


async def test_the_log_names_the_number_answered_not_the_one_left_unused() -> None:
    store = LateCopy([Account("1000001", "5ABCD12", "Bakı", "BAK-NAS")])
    intake = Intake(store, {"guest": "e-gov"})
    body = {
        "submission_id": str(uuid.uuid4()),
        "applicant_fin": "5ABCD12",
        "subscriber_code": "1000001",
        "reason_code": "new_installation",
        "phone": "+994501234567",
        "email": "a@example.az",
        "data_confirmed": True,
    }
    first = await intake.submit(read_command(SubmitApplication, body), "guest", "c-1")
    structlog.contextvars.clear_contextvars()
    store.blind = True
    second = await intake.submit(read_command(SubmitApplication, body), "guest", "c-2")

    number = first.reply.application_number  # type: ignore[union-attr]
    assert second.reply.application_number == number  # type: ignore[union-attr]
    assert second.log == {"outcome": "registered", "duplicate": True}
    assert structlog.contextvars.get_contextvars()["application_number"] == number
    assert store.counters  # the late copy took a number of its own, left unused
    structlog.contextvars.clear_contextvars()
