"""Each application is due a number of working days after its registration (Asia/Baku)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.intake.domain import ServiceLevel, read_holidays
from services.intake.settings import IntakeSettings
from shared.settings import SettingsError


def test_ten_working_days_skip_the_weekends() -> None:
    # Friday 2026-11-27 in Baku: ten working days later is Friday 2026-12-11.
    friday = datetime(2026, 11, 27, 8, tzinfo=UTC)
    assert ServiceLevel().due_by(friday) == date(2026, 12, 11)


def test_the_registration_day_is_the_baku_day() -> None:
    # 21:30 UTC on Friday is already Saturday in Baku: due three working days after it.
    late_friday = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)
    assert ServiceLevel(working_days=3).due_by(late_friday) == date(2026, 12, 2)


def test_holidays_are_not_working_days() -> None:
    level = ServiceLevel(working_days=2, holidays=frozenset({date(2026, 12, 1)}))
    assert level.due_by(datetime(2026, 11, 27, 8, tzinfo=UTC)) == date(2026, 12, 2)


def test_a_holidays_file_allows_comments_and_names_its_bad_line() -> None:
    assert read_holidays(["2026-03-20 Novruz", "# comment", "", "2026-03-21"]) == {
        date(2026, 3, 20),
        date(2026, 3, 21),
    }
    with pytest.raises(ValueError, match="line 2"):
        read_holidays(["2026-03-20", "20.03.2026"])


def test_the_settings_read_the_working_days_and_the_holidays_file(tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2026-12-01\n", encoding="utf-8")
    settings = IntakeSettings.from_env(
        {"SLA_WORKING_DAYS": "2", "SLA_HOLIDAYS_FILE": str(holidays)}
    )
    assert settings.service_level() == ServiceLevel(2, frozenset({date(2026, 12, 1)}))
    with pytest.raises(SettingsError, match="SLA_HOLIDAYS_FILE"):
        IntakeSettings.from_env({"SLA_HOLIDAYS_FILE": str(tmp_path / "missing.txt")})
    with pytest.raises(SettingsError, match="SLA_WORKING_DAYS"):
        IntakeSettings.from_env({"SLA_WORKING_DAYS": "0"})
