"""The suite's citizens, teams and stock: reference data made up for one run (pure).

Every application has its own subscriber code, e-mail address and phone number, so each
e-mail and SMS in the sinks names the application it is about even without parsing its
text; 50 subscribers share one FIN, so one HTTP list shows the state of 50 applications.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

DISTRICT = "FLT-01"
TEAMS = ("F-01", "F-02", "F-03", "F-04")
TEAM_CAPACITY = 1_000_000  # no application waits for capacity: waiting is not a fault
PER_FIN = 50
_FIN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class Applicant:
    index: int  # 0, 1, 2, ... over the whole run

    @property
    def subscriber_code(self) -> str:
        return f"F{self.index:07d}"

    @property
    def fin(self) -> str:
        group = self.index // PER_FIN
        letters = _FIN_LETTERS[group % 24] + _FIN_LETTERS[(group // 24) % 24]
        return f"9{letters}{group:04d}"[:7]

    @property
    def email(self) -> str:
        return f"citizen{self.index}@faults.example.az"

    @property
    def phone(self) -> str:
        return f"+99450{2000000 + self.index:07d}"

    def submission(self, submission_id: str) -> dict[str, object]:
        return {
            "submission_id": submission_id,
            "applicant_fin": self.fin,
            "subscriber_code": self.subscriber_code,
            "reason_code": "new_installation",
            "phone": self.phone,
            "email": self.email,
            "notes": f"fault suite #{self.index}",
            "data_confirmed": True,
            "language": "az",
        }


def applicants(start: int, count: int) -> list[Applicant]:
    return [Applicant(index) for index in range(start, start + count)]


def subscribers_csv(people: list[Applicant]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["subscriber_code", "applicant_fin", "address", "district_code", "active_meter_serials"]
    )
    for person in people:
        address = f"Bakı, Nəsimi r-nu, Sınaq küç. {person.index}, mənzil 1"
        writer.writerow([person.subscriber_code, person.fin, address, DISTRICT, ""])
    return out.getvalue()


def teams_csv() -> str:
    lines = ["team_id,name,district_codes,daily_capacity"]
    lines += [f"{team},Sınaq briqadası {team},{DISTRICT},{TEAM_CAPACITY}" for team in TEAMS]
    return "\n".join(lines) + "\n"


def act(number: str, team_id: str, installed_at: str) -> dict[str, object]:
    return {
        "act_number": f"AKT-{number[3:]}",
        "meter_serial": f"WM-{number[3:]}",
        "meter_model": "Sensus 620",
        "initial_reading_m3": "0.000",
        "seal_numbers": [f"PL-{number[-6:]}"],
        "installed_at": installed_at,
        "installer_name": f"Briqada {team_id}",
    }
