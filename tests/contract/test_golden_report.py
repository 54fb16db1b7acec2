"""Field teams' reports get exactly the answers the old hand-written reader gave.

The corpus ``golden/report.json.gz`` holds bodies with the work order stored under the
named ``work_order_id`` (or none) and what the old code answered: every error (shape,
act and reason rules, then the work order's own rule) and, for a report it could read,
the values it read. Now the contract's ``ReportOutcome`` reads the body and the
dispatcher's domain adds the work order's rule, from the names the report carries.
"""

from __future__ import annotations

from typing import Any

from services.dispatcher.domain import reports
from shared.contracts.commands import ReportOutcome
from shared.contracts.reading import Refusal, read_command
from tests.contract.golden import corpus

CASES = corpus("report")


def _names(parsed: ReportOutcome | Refusal) -> reports.ReportNames | None:
    """The application, work order and team, as non-blank stripped strings, when all three are."""
    if isinstance(parsed, ReportOutcome):
        return reports.ReportNames(parsed.application_number, parsed.work_order_id, parsed.team_id)
    texts = [parsed.text(name) for name in ("application_number", "work_order_id", "team_id")]
    if None in texts:
        return None
    number, order, team = (str(text).strip() for text in texts)
    return reports.ReportNames(number, order, team)


def _answer(body: dict[str, Any], work_order: dict[str, Any] | None) -> dict[str, Any]:
    parsed = read_command(ReportOutcome, body)
    errors = list(parsed.errors) if isinstance(parsed, Refusal) else []
    names = _names(parsed)
    if names is not None:
        errors.extend(reports.state_errors(work_order, names))
    answer: dict[str, Any] = {"errors": [error.model_dump(mode="json") for error in errors]}
    if isinstance(parsed, ReportOutcome):
        answer["report"] = {
            "application_number": parsed.application_number,
            "work_order_id": parsed.work_order_id,
            "team_id": parsed.team_id,
            "outcome": parsed.outcome,
            "act": None if parsed.act is None else parsed.act.model_dump(mode="json"),
            "reason_code": parsed.reason_code,
            "comment": parsed.comment,
        }
    return answer


def test_the_corpus_covers_reads_refusals_and_every_work_order_rule() -> None:
    assert len(CASES) == 1500
    read = [case for case in CASES if "report" in case["result"]]
    codes = {error["code"] for case in CASES for error in case["result"]["errors"]}
    assert read, "some bodies are read"
    assert any(not case["result"]["errors"] for case in read), "some are accepted"
    assert {"unknown_work_order", "wrong_team", "work_order_closed"} <= codes
    assert {"required", "invalid_type", "unknown_field", "invalid_act"} <= codes


def test_reports_get_the_same_errors_and_values_as_before() -> None:
    differences = []
    for case in CASES:
        got = _answer(case["body"], case["work_order"])
        if got != case["result"]:
            differences.append((case["body"], case["work_order"], case["result"], got))
    assert differences == [], f"{len(differences)} of {len(CASES)} differ; first: {differences[0]}"


def test_the_service_adds_the_same_work_order_rules_as_the_test_does() -> None:
    """``reports.report_errors`` (what the service answers) is the sum the test checks."""
    for case in CASES:
        parsed = read_command(ReportOutcome, case["body"])
        errors = reports.report_errors(parsed, case["work_order"])
        assert [error.model_dump(mode="json") for error in errors] == case["result"]["errors"]
