"""Typed commands answer every body of the corpus exactly as the old validators did."""

from __future__ import annotations

from typing import Any

from services.intake import domain
from shared.contracts.commands import ReceiveStock, SubmitApplication
from shared.contracts.reading import Refusal, read_command
from shared.contracts.registry import COMMANDS
from shared.contracts.replies import ActiveMeter
from tests.contract.golden import corpus


def _account(document: dict[str, Any] | None) -> domain.Account | None:
    if document is None:
        return None
    return domain.Account(
        subscriber_code=document["_id"],
        applicant_fin=document["applicant_fin"],
        address=document.get("address", ""),
        district_code=document["district_code"],
        active_meters=tuple(ActiveMeter(**meter) for meter in document["active_meters"]),
    )


def _decision(decision: domain.Decision) -> dict[str, Any]:
    if isinstance(decision, domain.Refuse):
        return {"refuse": [error.model_dump(mode="json") for error in decision.errors]}
    if isinstance(decision, domain.NeedsConfirmation):
        meters = [meter.model_dump(mode="json") for meter in decision.active_meters]
        return {"confirm": {"active_meters": meters, "language": decision.language}}
    submission = decision.submission.model_dump(mode="json", exclude={"data_confirmed"})
    return {
        "accept": {
            "submission": submission,
            "district_code": decision.district_code,
            "additional_meter": decision.additional_meter,
        }
    }


def test_submissions_get_the_same_decision_as_before() -> None:
    cases = corpus("submission")
    differences = []
    for case in cases:
        parsed = read_command(SubmitApplication, case["body"])
        got = _decision(domain.decide(parsed, _account(case["account"]), case["open_number"]))
        if got != case["result"]:
            differences.append((case["body"], case["result"], got))
    assert differences == [], f"{len(differences)} of {len(cases)} differ; first: {differences[0]}"


def test_stock_receipts_get_the_same_answer_as_before() -> None:
    for case in corpus("receipt"):
        parsed = read_command(ReceiveStock, case["body"])
        got = (
            [error.model_dump(mode="json") for error in parsed.errors]
            if isinstance(parsed, Refusal)
            else [parsed.district_code, parsed.quantity]
        )
        assert got == case["result"], case["body"]


def test_queries_get_the_same_refusals_as_before() -> None:
    for case in corpus("queries"):
        parsed = read_command(COMMANDS[case["routing_key"]], case["body"])
        got = (
            [error.model_dump(mode="json") for error in parsed.errors]
            if isinstance(parsed, Refusal)
            else []
        )
        assert got == case["errors"], (case["routing_key"], case["body"])
