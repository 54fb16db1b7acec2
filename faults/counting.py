"""Counting one scenario's end state into its row (see ``faults.checks`` for the rules).

``RunLedger`` carries what the whole run expects of the shared stock: every receipt
counted once, every completed application consuming one meter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from faults import checks, people
from faults.ledger import tally
from faults.report import Row

if TYPE_CHECKING:
    from faults.suite import Run, Scene


@dataclass
class RunLedger:
    stock_received: int
    installed: int = 0
    # scenario -> (e-mail addresses, phones) of its applicants, for the final recount
    recipients: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)


async def count(run: Run, scene: Scene, parked_before: dict[str, int]) -> None:
    """After ``settle`` seconds (late repeats), count; ``meterctl`` starts meanwhile."""
    row, submissions = scene.row, scene.submissions
    stock_shown = asyncio.create_task(stock_line(run, row))
    await asyncio.sleep(run.plan.settle)
    try:
        status = await checks.statuses(
            run.system.http,
            {s.applicant.fin for s in submissions},
            {s.applicant.subscriber_code for s in submissions},
        )
    except (httpx.HTTPError, ValueError) as exc:
        status = {}
        row.notes.append(f"the status API did not answer: {exc}")
    mail, sms = tally(run.mail.refresh()), tally(run.sms.refresh())
    checks.judge(row, submissions, status, dict(run.events.work_orders), mail, sms)
    run.ledger.recipients[row.scenario] = (
        {s.applicant.email for s in submissions},
        {s.applicant.phone for s in submissions},
    )
    # Every application of the scenario's citizens, also one whose answer the portal never
    # got: stock follows what the system did, not what the portal heard.
    run.ledger.installed += sum(state == "completed" for state in status.values())
    still_open = sum(state != "completed" for state in status.values())
    unanswered = sorted(set(status) - {s.number for s in submissions})
    if unanswered:
        row.details["registered_but_unanswered"] = unanswered
        row.notes.append(
            f"registered, but the portal never got the answer: {', '.join(unanswered)} "
            f"(status {', '.join(status[n] for n in unanswered)})"
        )
    stock = checks.Stock(
        await stock_shown, run.ledger.stock_received, run.ledger.installed, still_open
    )
    row.twice_stock = stock.twice()
    row.notes.extend(stock.problems())
    row.details["stock"] = stock.line
    try:
        parked = await run.system.parked()
        more = {queue: n - parked_before.get(queue, 0) for queue, n in parked.items()}
        row.details["parked"] = {queue: n for queue, n in more.items() if n}
    except (httpx.HTTPError, OSError) as exc:
        row.notes.append(f"parking queues not counted: {exc}")
    note_clients(run, scene)
    row.details["log_errors"] = logs = run.logs.errors()
    for service, summary in logs.items():
        if summary.get("not_json"):
            row.notes.append(
                f"{service} wrote {summary['not_json']} log lines that are not JSON, "
                f"first: {summary['first_not_json'][:160]!r}"
            )
    exited = run.system.children.exited()
    if exited:
        row.notes.append(f"exited by themselves: {exited}")


async def stock_line(run: Run, row: Row) -> dict[str, int] | None:
    try:
        shown = await run.system.meterctl("stock", "show")
    except (RuntimeError, TimeoutError) as exc:
        row.notes.append(f"meterctl stock show failed: {exc}")
        return None
    return checks.parse_stock(shown, people.DISTRICT)


def note_clients(run: Run, scene: Scene) -> None:
    """What the portal and the field team were answered, besides the expected."""
    row, portal, field_team = scene.row, scene.portal, run.field
    answers: dict[str, int] = {}
    for submission in scene.submissions:
        for answer, n in submission.answers.items():
            answers[answer] = answers.get(answer, 0) + n
    details: dict[str, Any] = row.details
    details["portal_resends"] = sum(s.sent - 1 for s in scene.submissions)
    details["portal_answers_other_than_registered"] = answers
    details["field_answers_other_than_accepted"] = dict(field_team.answers)
    anomalies = {**portal.anomalies, **field_team.anomalies}
    details["client_anomalies"] = anomalies
    for anomaly, n in anomalies.items():
        row.notes.append(f"{anomaly} ×{n}")
    for answer, n in field_team.answers.items():
        row.notes.append(f"field report answered {answer} ×{n}")
    field_team.answers.clear()
    field_team.anomalies.clear()
