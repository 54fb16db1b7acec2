"""The suite's made-up reference data is what intake and the dispatcher accept."""

from __future__ import annotations

import csv
import io

from faults import people
from services.dispatcher.reference import team_row
from services.intake.reference import subscriber_row
from shared.contracts.commands import normalize_email, normalize_phone


def test_every_applicant_has_a_valid_fin_phone_and_email_of_their_own() -> None:
    everyone = people.applicants(0, 2000)
    assert len({a.email for a in everyone}) == len({a.phone for a in everyone}) == 2000
    for applicant in everyone[:: people.PER_FIN]:
        subscriber_row(
            {
                "subscriber_code": applicant.subscriber_code,
                "applicant_fin": applicant.fin,
                "address": "x",
                "district_code": people.DISTRICT,
                "active_meter_serials": "",
            }
        )
        assert normalize_phone(applicant.phone) == applicant.phone
        assert normalize_email(applicant.email) is not None


def test_fifty_applicants_share_a_fin() -> None:
    everyone = people.applicants(0, 120)
    assert len({a.fin for a in everyone}) == 3


def test_the_csv_files_parse_with_the_services_own_row_readers() -> None:
    rows = list(csv.DictReader(io.StringIO(people.subscribers_csv(people.applicants(5, 3)))))
    assert [subscriber_row(row).subscriber_code for row in rows] == [
        "F0000005",
        "F0000006",
        "F0000007",
    ]
    teams = [team_row(row) for row in csv.DictReader(io.StringIO(people.teams_csv()))]
    assert {team.team_id for team in teams} == set(people.TEAMS)
    assert all(team.daily_capacity >= 100_000 for team in teams)
