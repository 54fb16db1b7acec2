"""The table the suite prints and saves, and what counts as passing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faults import report
from faults.report import Row


def test_a_row_with_anything_lost_or_twice_fails() -> None:
    assert Row("a", 10, recover_seconds=3).passed
    assert not Row("a", 10, lost=1, recover_seconds=3).passed
    assert not Row("a", 10, twice_sms=1, recover_seconds=3).passed
    assert not Row("a", 10, recover_seconds=None).passed


def test_in_the_crash_window_repeated_notifications_are_reported_not_failed() -> None:
    assert Row("n", 10, twice_email=2, recover_seconds=3, crash_window=True).passed
    assert not Row("n", 10, twice_work_orders=1, recover_seconds=3, crash_window=True).passed
    assert not Row("n", 10, lost=1, recover_seconds=3, crash_window=True).passed


def test_the_table_is_markdown_with_one_row_per_scenario() -> None:
    rows = [
        Row("no fault", 60, recover_seconds=2.4),
        Row("notifier SIGKILLed", 60, twice_email=1, recover_seconds=None, crash_window=True),
    ]
    lines = report.table(rows).splitlines()
    assert lines[0].startswith("| scenario | apps | lost | twice: e-mails |")
    assert lines[2] == "| no fault | 60 | 0 | 0 | 0 | 0 | 0 | 2 |"
    assert lines[3] == "| notifier SIGKILLed (crash window) | 60 | 0 | 1 | 0 | 0 | 0 | — |"


def test_the_results_are_saved_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    path = report.save([Row("a", 1, recover_seconds=1)], "quick", 61.2, {"apps": 1})
    saved = json.loads(path.read_text())
    assert path.parent == tmp_path
    assert path.name.startswith("faults-quick-")
    assert saved["passed"] is True
    assert saved["rows"][0]["scenario"] == "a"
    assert saved["duration_seconds"] == 61
