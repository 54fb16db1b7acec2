"""One row per scenario, printed as a table and saved as JSON under ``faults/results/``."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    scenario: str
    applications: int
    lost: int = 0
    twice_email: int = 0
    twice_sms: int = 0
    twice_work_orders: int = 0
    twice_stock: int = 0
    recover_seconds: float | None = None  # None: not recovered within the deadline
    crash_window: bool = False  # the one place where effects twice are expected (item 3)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def twice(self) -> int:
        return self.twice_email + self.twice_sms + self.twice_work_orders + self.twice_stock

    @property
    def passed(self) -> bool:
        twice_allowed = self.crash_window and self.twice_work_orders + self.twice_stock == 0
        return (
            self.lost == 0
            and self.recover_seconds is not None
            and (self.twice == 0 or twice_allowed)
        )


HEADER = ("scenario", "apps", "lost", "e-mails", "SMS", "work orders", "stock", "recover s")


def _recover(row: Row) -> str:
    return "—" if row.recover_seconds is None else f"{row.recover_seconds:.0f}"


def table(rows: list[Row]) -> str:
    """A Markdown table: the README's Reliability section quotes it as printed."""
    lines = [
        "| scenario | apps | lost | twice: e-mails | SMS | work orders | stock | recover s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        mark = " (crash window)" if row.crash_window else ""
        lines.append(
            f"| {row.scenario}{mark} | {row.applications} | {row.lost} | {row.twice_email} "
            f"| {row.twice_sms} | {row.twice_work_orders} | {row.twice_stock} "
            f"| {_recover(row)} |"
        )
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    found = [f"- {row.scenario}: {note}" for row in rows for note in row.notes]
    return "\n".join(found)


def verdict(rows: list[Row]) -> str:
    failed = [row.scenario for row in rows if not row.passed]
    if not failed:
        return "every scenario: lost = 0, twice = 0 (except the crash window, figures above)"
    return "FAILED: " + ", ".join(failed)


def save(rows: list[Row], variant: str, seconds: float, settings: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS / f"faults-{variant}-{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "variant": variant,
        "finished_at": now.isoformat(timespec="seconds"),
        "duration_seconds": round(seconds),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "settings": settings,
        "passed": all(row.passed for row in rows),
        "rows": [{**asdict(row), "passed": row.passed} for row in rows],
        "table": table(rows),
    }
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
