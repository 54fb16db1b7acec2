"""Intake's pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.intake import domain
from shared.contracts.commands import SubmitApplication, normalize_phone
from shared.contracts.reading import Refusal, read_command


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+994501234567", "+994501234567"),
        ("050 123 45 67", "+994501234567"),
        ("(055) 123-45-67", "+994551234567"),
        ("994701234567", "+994701234567"),
        ("0771234567", "+994771234567"),
        ("0991234567", "+994991234567"),
    ],
)
def test_azerbaijani_mobile_numbers_are_stored_as_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["+994124981234", "+79161234567", "12345", "", "phone"])
def test_landlines_foreign_and_junk_numbers_are_not_mobile(raw: str) -> None:
    assert normalize_phone(raw) is None


def test_numbers_are_sq_year_and_six_digits() -> None:
    assert domain.application_number(2026, 42) == "SQ-2026-000042"
    assert domain.application_number(2026, 999_999) == "SQ-2026-999999"


@pytest.mark.parametrize("sequence", [0, 1_000_000])
def test_a_sequence_outside_six_digits_gives_no_number(sequence: int) -> None:
    with pytest.raises(domain.NumbersUsedUp, match="numbers_used_up"):
        domain.application_number(2026, sequence)


def test_the_year_is_the_baku_year() -> None:
    # 21:30 UTC on 31 December is already 1 January in Baku (UTC+4).
    assert domain.registration_year(datetime(2026, 12, 31, 21, 30, tzinfo=UTC)) == 2027
    assert domain.registration_year(datetime(2026, 12, 31, 19, 59, tzinfo=UTC)) == 2026


def test_lengths_count_code_points() -> None:
    body = {
        "submission_id": "s",
        "applicant_fin": "5ABCD12",
        "subscriber_code": "1",
        "reason_code": "new_installation",
        "phone": "+994501234567",
        "email": "a@example.az",
        "data_confirmed": True,
        "notes": "ğ" * 1000,
    }
    assert isinstance(read_command(SubmitApplication, body), SubmitApplication)
    result = read_command(SubmitApplication, {**body, "notes": "ğ" * 1001})
    assert isinstance(result, Refusal)
    assert result.errors[0].code == "notes_too_long"


def test_someone_elses_code_reads_as_not_found_even_with_an_open_application() -> None:
    account = domain.Account("1", "OTHER12", "A", "D")
    body = {
        "submission_id": "s",
        "applicant_fin": "5ABCD12",
        "subscriber_code": "1",
        "reason_code": "new_installation",
        "phone": "+994501234567",
        "email": "a@example.az",
        "data_confirmed": True,
    }
    decision = domain.decide(read_command(SubmitApplication, body), account, "SQ-2026-000001")
    assert isinstance(decision, domain.Refuse)
    assert [e.code for e in decision.errors] == ["subscriber_not_found"]
