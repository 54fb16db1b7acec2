"""The end state of a scenario, counted: what was lost and what was done twice.

An application is *lost* when it was submitted but, by the deadline after the fault, is
not registered, not ``completed`` in the status read model (HTTP API), has no work
order, or lacks one of its three e-mails or three SMS (registered, forwarded,
completed). *Twice* counts registrations beyond one per submission, e-mails and SMS
beyond one per (application, step), work orders beyond one per application, and stock
counted beyond what was received and installed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from faults.ledger import Effects, Tally, missing
from faults.portal import Submission
from faults.report import Row
from faults.system import API_KEY

STOCK_COLUMNS = ("received", "reserved", "consumed", "available")


async def statuses(http: str, fins: Iterable[str], subscribers: Iterable[str]) -> dict[str, str]:
    """Application number -> status of the ``subscribers``' applications, from the status
    HTTP API (one list per citizen: a citizen's FIN may hold applications of other
    scenarios' subscribers too, which are left out)."""
    wanted = set(subscribers)
    found: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=http, timeout=10) as client:
        for fin in sorted(set(fins)):
            answer = await client.get(
                "/v1/applications",
                headers={"Authorization": f"Bearer {API_KEY}", "X-Applicant-Fin": fin},
            )
            answer.raise_for_status()
            for view in answer.json().get("applications", []):
                if view.get("subscriber_code") in wanted:
                    found[str(view.get("application_number"))] = str(view.get("status"))
    return found


def parse_stock(shown: str, district: str) -> dict[str, int] | None:
    """The district's line of ``meterctl stock show``."""
    for line in shown.splitlines():
        parts = line.split()
        if parts and parts[0] == district and all(p.isdigit() for p in parts[1:5]):
            return dict(zip(STOCK_COLUMNS, (int(p) for p in parts[1:5]), strict=True))
    return None


@dataclass(frozen=True)
class Stock:
    """Stock as counted against what the run received and installed so far."""

    line: dict[str, int] | None
    received: int  # expected: every receipt once
    installed: int  # applications completed with ``installed`` over the whole run
    still_open: int  # applications registered and not yet completed

    def twice(self) -> int:
        if self.line is None:
            return 0
        return max(0, self.line["received"] - self.received) + max(
            0, self.line["consumed"] - self.installed
        )

    def problems(self) -> list[str]:
        if self.line is None:
            return ["meterctl stock show has no line for the district"]
        line, found = self.line, []
        if line["received"] - line["reserved"] - line["consumed"] != line["available"]:
            found.append(f"stock does not add up: {line}")
        if line["received"] < self.received:
            found.append(f"received {line['received']}, {self.received} were received")
        if line["consumed"] < self.installed:
            found.append(f"consumed {line['consumed']}, {self.installed} were installed")
        if line["reserved"] != self.still_open:
            found.append(f"reserved {line['reserved']}, {self.still_open} applications open")
        return found


def judge(
    row: Row,
    submissions: list[Submission],
    status: dict[str, str],
    work_orders: dict[str, set[str]],
    mail: Tally,
    sms: Tally,
) -> None:
    """Fill ``row``'s lost and twice counts (stock apart) and note what each lost one lacks."""
    reasons: dict[str, int] = {}
    lost = 0
    mail_effects = Effects.of(mail, {s.applicant.email for s in submissions})
    sms_effects = Effects.of(sms, {s.applicant.phone for s in submissions})
    examples: list[str] = []
    for submission in submissions:
        number = submission.number
        email, phone = submission.applicant.email, submission.applicant.phone
        lacks = []
        if number is None:
            lacks.append("registration")
        else:
            if status.get(number) != "completed":
                lacks.append(f"completion (status {status.get(number, 'unknown')})")
            if not work_orders.get(number):
                lacks.append("work order")
        lacks += [f"e-mail {step.removeprefix('application.')}" for step in missing(mail, email)]
        lacks += [f"SMS {step.removeprefix('application.')}" for step in missing(sms, phone)]
        for reason in lacks:
            reasons[reason] = reasons.get(reason, 0) + 1
        if lacks and len(examples) < 5:
            heard = f" (sent {submission.sent}×: {dict(submission.answers)})" if not number else ""
            who = number or submission.applicant.subscriber_code
            examples.append(f"{who}: {', '.join(lacks)}{heard}")
        lost += bool(lacks)
    numbers = [s.number for s in submissions if s.number is not None]
    row.lost = lost
    row.twice_email, row.twice_sms = mail_effects.twice, sms_effects.twice
    row.twice_work_orders = sum(max(0, len(work_orders.get(n, ())) - 1) for n in numbers)
    registered_twice = sum(len(s.numbers) - 1 for s in submissions if len(s.numbers) > 1)
    row.details.update(
        lost_because=reasons,
        lost_examples=examples,
        registered_twice=registered_twice,
        resent_same_identity={"email": mail_effects.resent, "sms": sms_effects.resent},
    )
    if registered_twice:
        row.notes.append(f"{registered_twice} submission(s) registered under a second number")
        row.twice_work_orders += registered_twice
    if reasons:
        row.notes.append(
            "lost: " + ", ".join(f"{k} missing ×{v}" for k, v in sorted(reasons.items()))
        )
