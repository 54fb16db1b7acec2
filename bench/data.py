"""The benchmark's data: subscribers, teams with room for every work order, stock, and the
bodies the portal and the field team send (pure, deterministic per index).

Every application has a subscriber code of its own, so the one-open-application rule never
refuses a submission; the districts and teams are the demo's (``deploy/demo/``), with the
teams' daily capacity raised so that no work order waits for a new day.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "deploy" / "demo"
BAKU = timezone(timedelta(hours=4))
REASON = "new_installation"  # needs a meter: every lifecycle reserves and consumes stock
TEAM_CAPACITY = 1_000_000


def demo_districts(demo: Path = DEMO) -> list[str]:
    """The demo's stocked districts that a demo team serves, in ``stock.txt``'s order.

    The demo stocks a district no team serves (its applications wait for a team, as the
    README shows); a benchmark application sent there would never be completed.
    """
    served: set[str] = set()
    for row in csv.DictReader(io.StringIO((demo / "teams.csv").read_text(encoding="utf-8"))):
        served.update(code for code in row["district_codes"].split(";") if code)
    districts = []
    for line in (demo / "stock.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and line.split()[0] in served:
            districts.append(line.split()[0])
    return districts


def subscriber_code(index: int) -> str:
    return f"B{index:07d}"


def applicant_fin(index: int) -> str:
    return f"F{index:06d}"[-7:]


def district_of(index: int, districts: list[str]) -> str:
    return districts[index % len(districts)]


def subscribers_csv(count: int, districts: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["subscriber_code", "applicant_fin", "address", "district_code", "active_meter_serials"]
    )
    for index in range(count):
        writer.writerow(
            [
                subscriber_code(index),
                applicant_fin(index),
                f"Bakı, Benchmark küç. {index}, mənzil {index % 90 + 1}",
                district_of(index, districts),
                "",
            ]
        )
    return out.getvalue()


def teams_csv(demo: Path = DEMO) -> str:
    """The demo teams, each with a daily capacity no run can fill."""
    rows = list(csv.DictReader(io.StringIO((demo / "teams.csv").read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "daily_capacity": str(TEAM_CAPACITY)})
    return out.getvalue()


def stock_needed(count: int, districts: list[str]) -> Counter[str]:
    """Meters each district needs for ``count`` applications (one each)."""
    return Counter(district_of(index, districts) for index in range(count))


def meterctl_loads(directory: Path, applications: int) -> list[tuple[str, ...]]:
    """The ``meterctl`` commands that load the demo data and the benchmark's (files written
    to ``directory``), after ``topology declare``; receipts keep stock from counting twice."""
    districts = demo_districts()
    subscribers, teams = directory / "subscribers.csv", directory / "teams.csv"
    subscribers.write_text(subscribers_csv(applications, districts), encoding="utf-8")
    teams.write_text(teams_csv(), encoding="utf-8")
    loads: list[tuple[str, ...]] = [
        ("subscribers", "import", str(DEMO / "subscribers.csv")),
        ("teams", "import", str(DEMO / "teams.csv")),
        ("subscribers", "import", str(subscribers)),
        ("teams", "import", str(teams)),
    ]
    for district, quantity in stock_needed(applications, districts).items():
        loads.append(
            ("stock", "receive", district, str(quantity), "--receipt", f"bench-{district}")
        )
    return loads


def submission(index: int) -> dict[str, Any]:
    return {
        "submission_id": str(uuid.uuid4()),
        "applicant_fin": applicant_fin(index),
        "subscriber_code": subscriber_code(index),
        "reason_code": REASON,
        "phone": f"+9945012{index % 100_000:05d}",
        "email": f"citizen{index}@example.az",
        "notes": "",
        "data_confirmed": True,
        "language": "az",
    }


def installed_report(number: str, work_order_id: str, team_id: str) -> dict[str, Any]:
    return {
        "application_number": number,
        "work_order_id": work_order_id,
        "team_id": team_id,
        "outcome": "installed",
        "act": {
            "act_number": f"AKT-{number[3:]}",
            "meter_serial": f"WM-{number[3:]}",
            "meter_model": "Sensus 620",
            "initial_reading_m3": "0.000",
            "seal_numbers": ["PL-1001"],
            "installed_at": datetime.now(BAKU).isoformat(timespec="seconds"),
            "installer_name": "Benchmark Briqadası",
        },
        "comment": "",
    }
