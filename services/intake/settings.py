"""Intake's settings: the common ones (``CHANNEL_USERS`` among them) and the service level."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, field_validator

from services.intake.domain import ServiceLevel, read_holidays
from shared.settings import CommonSettings


def holidays_in(path: Path) -> frozenset[date]:
    """The holidays of ``SLA_HOLIDAYS_FILE``; ``ValueError`` saying what is wrong with it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror}") from None
    return read_holidays(lines)


class IntakeSettings(CommonSettings):
    """Intake learns a submission's channel from its sender through ``CHANNEL_USERS``, and
    gives each application its due date (``SLA_WORKING_DAYS``, ``SLA_HOLIDAYS_FILE``)."""

    sla_working_days: int = Field(
        10,
        ge=1,
        le=365,
        description="working days (Monday to Friday, Asia/Baku) from registration to due date",
    )
    sla_holidays_file: Path | None = Field(
        None,
        description="a file of holiday dates, one YYYY-MM-DD a line, not counted as working days",
    )

    @field_validator("sla_holidays_file")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            holidays_in(path)
        return path

    def service_level(self) -> ServiceLevel:
        holidays = (
            frozenset() if self.sla_holidays_file is None else holidays_in(self.sla_holidays_file)
        )
        return ServiceLevel(self.sla_working_days, holidays)
