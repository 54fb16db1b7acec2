"""Each rule of a submission answers with its own code (in-process: no broker needed).

The portal here calls intake's routes directly with the in-memory store, so the reading
of bodies, the rules and the replies are the service's own; delivery over the broker is
proven in ``test_registration``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from meterctl.csvfile import read_rows
from services.intake.handlers import IntakeHandlers
from services.intake.reference import SUBSCRIBER_COLUMNS, subscriber_row
from services.intake.usecases import Intake
from shared.routes import Routes
from tests.intake.fakes import MemoryIntakeStore
from tests.intake.test_registration import submission
from tests.support.inprocess import LocalPortal

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "subscribers.csv"


class CountingStore(MemoryIntakeStore):
    """Notes every look for an open application."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open_looks: list[str] = []

    async def open_application(self, key: str) -> str | None:
        self.open_looks.append(key)
        return await super().open_application(key)


@pytest.fixture
def store() -> CountingStore:
    accounts, errors = read_rows(
        DEMO, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda row: row.subscriber_code
    )
    assert not errors
    return CountingStore(accounts)


@pytest.fixture
def portal(store: CountingStore) -> LocalPortal:
    routes = Routes()
    IntakeHandlers(Intake(store, {"guest": "e-gov"})).serve(routes)
    return LocalPortal(routes)


Portal = LocalPortal

RULES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("missing phone", {"phone": ...}, [("phone", "required")]),
    ("missing submission id", {"submission_id": ...}, [("submission_id", "required")]),
    ("missing data_confirmed", {"data_confirmed": ...}, [("data_confirmed", "required")]),
    ("phone as a number", {"phone": 994501234567}, [("phone", "invalid_type")]),
    ("confirmation as text", {"data_confirmed": "yes"}, [("data_confirmed", "invalid_type")]),
    ("unknown field", {"channel": "e-su"}, [("channel", "unknown_field")]),
    ("language", {"language": "de"}, [("language", "invalid_language")]),
    ("landline phone", {"phone": "+994124981234"}, [("phone", "invalid_phone")]),
    ("foreign phone", {"phone": "+79161234567"}, [("phone", "invalid_phone")]),
    ("e-mail", {"email": "citizen@"}, [("email", "invalid_email")]),
    ("reason", {"reason_code": "repaint_meter"}, [("reason_code", "unknown_reason")]),
    ("notes", {"notes": "ə" * 1001}, [("notes", "notes_too_long")]),
    ("not confirmed", {"data_confirmed": False}, [("data_confirmed", "data_not_confirmed")]),
    ("unknown code", {"subscriber_code": "9999999"}, [("subscriber_code", "subscriber_not_found")]),
    (
        "someone else's code",
        {"subscriber_code": "1000003"},
        [("subscriber_code", "subscriber_not_found")],
    ),
]


@pytest.mark.parametrize(("rule", "overrides", "expected"), RULES, ids=[r[0] for r in RULES])
async def test_a_broken_rule_is_refused_with_its_code(
    portal: Portal, rule: str, overrides: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    reply = await portal.request("intake.submit_application", submission(**overrides))
    assert reply.outcome == "refused"
    assert [(error["field"], error["code"]) for error in reply.body["errors"]] == expected
    assert all(error["message"] for error in reply.body["errors"])


async def test_notes_of_exactly_1000_letters_are_accepted(portal: Portal) -> None:
    reply = await portal.request("intake.submit_application", submission(notes="ə" * 1000))
    assert reply.outcome == "registered"


async def test_every_broken_rule_is_reported_at_once_in_the_requested_language(
    portal: Portal,
) -> None:
    body = submission(
        phone="123", email="nope", reason_code="x", data_confirmed=False, language="ru", extra=1
    )
    reply = await portal.request("intake.submit_application", body)
    assert sorted(reply.codes()) == sorted(
        ["unknown_field", "invalid_phone", "invalid_email", "unknown_reason", "data_not_confirmed"]
    )
    phone = next(e for e in reply.body["errors"] if e["code"] == "invalid_phone")
    assert "Азербайджана" in phone["message"]


async def test_one_open_application_per_subscriber_code_and_reason(portal: Portal) -> None:
    first = await portal.request("intake.submit_application", submission())
    assert first.outcome == "registered"
    again = await portal.request("intake.submit_application", submission())
    assert again.codes() == ["open_application_exists"]
    other_reason = await portal.request(
        "intake.submit_application", submission(reason_code="relocate_meter")
    )
    assert other_reason.outcome == "registered"


async def test_a_new_application_pays_no_look_for_an_open_one(
    portal: Portal, store: CountingStore
) -> None:
    """The unique open key of the insert refuses a second one; the reply still names the
    application that is open."""
    first = await portal.request("intake.submit_application", submission())
    assert first.outcome == "registered"
    assert store.open_looks == []
    again = await portal.request("intake.submit_application", submission())
    assert again.codes() == ["open_application_exists"]
    assert first.body["application_number"] in again.body["errors"][0]["message"]


async def test_an_open_application_is_named_with_every_other_broken_rule(portal: Portal) -> None:
    first = await portal.request("intake.submit_application", submission())
    assert first.outcome == "registered"
    again = await portal.request("intake.submit_application", submission(email="bad"))
    assert sorted(again.codes()) == ["invalid_email", "open_application_exists"]


async def test_an_open_application_refuses_before_a_confirmation_is_asked(
    portal: Portal,
) -> None:
    """Subscriber 1000002 has an active meter: without an open application the body asks
    for a confirmation; with one it is refused."""
    body = submission(subscriber_code="1000002", additional_meter_confirmed=True)
    first = await portal.request("intake.submit_application", body)
    assert first.outcome == "registered"
    unconfirmed = submission(subscriber_code="1000002")
    again = await portal.request("intake.submit_application", unconfirmed)
    assert again.codes() == ["open_application_exists"]
    other_reason = submission(subscriber_code="1000002", reason_code="relocate_meter")
    asked = await portal.request("intake.submit_application", other_reason)
    assert asked.outcome == "confirmation_required"


async def test_a_refused_submission_can_be_corrected_under_the_same_id(portal: Portal) -> None:
    body = submission(phone="123")
    refused = await portal.request("intake.submit_application", body)
    assert refused.codes() == ["invalid_phone"]
    corrected = await portal.request(
        "intake.submit_application", {**body, "phone": "+994551234567"}
    )
    assert corrected.outcome == "registered"


async def test_confirmation_is_asked_only_when_every_other_rule_passes(portal: Portal) -> None:
    reply = await portal.request(
        "intake.submit_application", submission(subscriber_code="1000002", email="bad")
    )
    assert reply.codes() == ["invalid_email"]


async def test_reasons_are_listed_in_the_requested_language(portal: Portal) -> None:
    reply = await portal.request("intake.list_reasons", {"language": "ru"})
    codes = [reason["code"] for reason in reply.body["reasons"]]
    assert codes == [
        "new_installation",
        "additional_meter",
        "replace_faulty",
        "replace_verification_expired",
        "relocate_meter",
        "register_existing",
    ]
    assert reply.body["reasons"][0]["label"] == "Установка нового счётчика воды"
    assert reply.message.type == "ListReasonsReply"


async def test_accounts_list_meters_and_open_applications(portal: Portal) -> None:
    registered = await portal.request("intake.submit_application", submission())
    reply = await portal.request("intake.list_subscriber_accounts", {"applicant_fin": "5abcd12"})
    accounts = {account["subscriber_code"]: account for account in reply.body["accounts"]}
    assert set(accounts) == {"1000001", "1000002"}
    assert accounts["1000001"]["open_applications"] == [registered.body["application_number"]]
    assert accounts["1000002"]["active_meters"][0]["serial"] == "WM-2019-004512"
    assert accounts["1000001"]["address"].startswith("Bakı, Nəsimi")


async def test_checking_someone_elses_code_is_subscriber_not_found(portal: Portal) -> None:
    mine = await portal.request(
        "intake.check_subscriber", {"applicant_fin": "5ABCD12", "subscriber_code": "1000002"}
    )
    assert mine.body["subscriber_code"] == "1000002"
    theirs = await portal.request(
        "intake.check_subscriber", {"applicant_fin": "5ABCD12", "subscriber_code": "1000003"}
    )
    assert theirs.codes() == ["subscriber_not_found"]
    missing = await portal.request("intake.check_subscriber", {"applicant_fin": "5ABCD12"})
    assert missing.codes() == ["required"]
