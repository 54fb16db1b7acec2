"""The benchmark's data passes the system's own rules, so every submission can register."""

from __future__ import annotations

import csv
import io

from bench import data
from services.dispatcher.reference import team_row
from services.intake.reference import subscriber_row
from shared.contracts.commands import ReportOutcome, SubmitApplication
from shared.contracts.reading import Refusal, read_command


def test_every_subscriber_row_is_one_the_directory_import_accepts() -> None:
    districts = data.demo_districts()
    rows = list(csv.DictReader(io.StringIO(data.subscribers_csv(12, districts))))
    accounts = [subscriber_row(row) for row in rows]
    assert len({account.subscriber_code for account in accounts}) == 12
    assert {account.district_code for account in accounts} == set(districts)


def test_every_district_the_bench_uses_is_served_by_a_team() -> None:
    districts = data.demo_districts()
    served = {
        code
        for team in (team_row(row) for row in csv.DictReader(io.StringIO(data.teams_csv())))
        for code in team.district_codes
    }
    assert districts, "no district to send applications to"
    assert set(districts) <= served
    stocked = {
        line.split()[0]
        for line in (data.DEMO / "stock.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert stocked - served, "the demo no longer has a district without a team: simplify"
    assert not set(districts) & (stocked - served)


def test_the_teams_are_the_demo_teams_with_room_for_every_work_order() -> None:
    teams = [team_row(row) for row in csv.DictReader(io.StringIO(data.teams_csv()))]
    assert [team.team_id for team in teams] == ["T-01", "T-02", "T-03", "T-04", "T-05"]
    assert all(team.daily_capacity == data.TEAM_CAPACITY for team in teams)


def test_each_district_receives_a_meter_per_application_it_gets() -> None:
    districts = data.demo_districts()
    needed = data.stock_needed(12, districts)
    assert sum(needed.values()) == 12
    assert set(needed) == set(districts)


def test_a_submission_and_a_report_are_valid_commands() -> None:
    submission = read_command(SubmitApplication, data.submission(1_234_567))
    assert not isinstance(submission, Refusal), submission
    report = read_command(ReportOutcome, data.installed_report("SQ-2026-000001", "WO-x", "T-01"))
    assert not isinstance(report, Refusal), report
