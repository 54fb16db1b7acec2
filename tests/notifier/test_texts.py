"""What each step tells the citizen, in az (as
docs/reference/notifications.md gives it), en and ru."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.notifier.domain import steps
from services.notifier.domain.steps import StepEvent, step_of
from services.notifier.domain.texts import render, sms_text, step_text
from shared.contracts.commands import Act
from shared.contracts.events import Event
from shared.contracts.reading import MalformedMessage
from shared.contracts.reading import read_event as read_wire_event
from tests.notifier.conftest import completed, forwarded, registered, rejected

N = "SQ-2026-000042"


def read_event(key: str, body: dict[str, Any]) -> StepEvent:
    """The step a wire event tells of: read as its registry model, then as a step."""
    step = step_of(cast(Event, read_wire_event(key, body)))
    assert step is not None
    return step


ACT = {"outcome": "installed", "meter_serial": "WM-77001", "act_number": "AKT-7"}
EXISTING = {**ACT, "outcome": "existing_meter_registered"}


def test_the_registration_text_is_the_utilitys_own_sentence() -> None:
    assert step_text("application.registered", N, {}, "az") == (
        "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
        f"təşəkkür edirik. Müraciət nömrəniz: {N}"
    )


def test_the_az_texts_are_those_of_the_design() -> None:
    assert step_text("application.forwarded", N, {}, "az") == (
        f"{N} nömrəli müraciətiniz icraya yönləndirildi."
    )
    assert step_text("application.completed", N, ACT, "az") == (
        f"{N} nömrəli müraciətiniz icra edildi. Sayğac: WM-77001, akt: AKT-7."
    )
    assert step_text("application.completed", N, EXISTING, "az") == (
        f"{N} nömrəli müraciətiniz icra edildi. Mövcud sayğacınız (WM-77001) qeydiyyata "
        "alındı, akt: AKT-7."
    )
    assert step_text("application.rejected", N, {"reason_code": "no_meter_stock"}, "az") == (
        f"{N} nömrəli müraciətiniz icra edilmədi. Səbəb: sayğac ehtiyatı yoxdur."
    )


@pytest.mark.parametrize(
    ("language", "reason"),
    [
        ("az", "su xətti uyğun deyil"),
        ("en", "the water line is unsuitable"),
        ("ru", "водопроводная линия не подходит"),
    ],
)
def test_a_rejection_names_the_reason_in_words_not_its_code(language: str, reason: str) -> None:
    text = step_text("application.rejected", N, {"reason_code": "unsuitable_water_line"}, language)
    assert reason in text
    assert "unsuitable_water_line" not in text
    assert N in text


def test_en_and_ru_texts_translate_every_step() -> None:
    assert step_text("application.forwarded", N, {}, "en") == (
        f"Your application {N} has been forwarded for execution."
    )
    assert step_text("application.completed", N, ACT, "ru") == (
        f"Ваша заявка {N} исполнена. Счётчик: WM-77001, акт: AKT-7."
    )
    assert "existing meter (WM-77001)" in step_text("application.completed", N, EXISTING, "en")
    assert step_text("application.registered", N, {}, "ru").endswith(f"Номер вашей заявки: {N}")


@pytest.mark.parametrize(
    ("key", "details"),
    [
        ("application.registered", {}),
        ("application.forwarded", {}),
        ("application.completed", ACT),
        ("application.completed", EXISTING),
        ("application.rejected", {"reason_code": "no_meter_stock"}),
        ("application.withdrawn", {}),
    ],
)
@pytest.mark.parametrize("language", ["az", "en", "ru"])
def test_every_text_names_the_application_number(
    key: str, details: dict[str, str], language: str
) -> None:
    notice = render(key, N, details, language)
    assert N in notice.subject
    assert N in notice.text
    assert N in notice.html


def test_the_subject_names_the_number_and_the_status_label() -> None:
    assert render("application.registered", N, {}, "az").subject == (
        f"Müraciət {N}: Qeydiyyata alındı"
    )
    assert render("application.rejected", N, {"reason_code": "no_meter_stock"}, "az").subject == (
        f"Müraciət {N}: İcra edilmədi"
    )
    assert render("application.forwarded", N, {}, "en").subject == (
        f"Application {N}: Forwarded for execution"
    )
    assert render("application.completed", N, ACT, "ru").subject == f"Заявка {N}: Исполнена"


def test_an_unknown_language_falls_back_to_az() -> None:
    assert step_text("application.forwarded", N, {}, "de") == step_text(
        "application.forwarded", N, {}, "az"
    )


def test_the_html_part_escapes_what_came_from_outside() -> None:
    notice = render("application.completed", N, {**ACT, "meter_serial": "<b>&"}, "az")
    assert "&lt;b&gt;&amp;" in notice.html
    assert "<b>&" not in notice.html


def test_events_are_read_into_steps() -> None:
    step = read_event("application.registered", registered(N, language="en", address="Bakı"))
    assert step.contact == steps.Contact(
        "+994501234567", "citizen@example.az", "en", "1000001", "Bakı"
    )
    assert read_event("application.registered", registered(N)).contact == steps.Contact(
        "+994501234567", "citizen@example.az", "az", "1000001", ""
    )
    assert read_event("application.forwarded", forwarded(N)).contact is None
    installed = read_event("application.completed", completed(N)).details
    assert Act.model_validate_json(installed.pop(steps.ACT)) == Act(**completed(N)["act"])
    assert installed == {
        "outcome": "installed",
        "meter_serial": "WM-77001",
        "act_number": "AKT-2026-0042",
    }
    existing = read_event("application.completed", completed(N, "existing_meter_registered"))
    assert steps.ACT not in existing.details  # no copy of the act: nothing was installed
    assert read_event("application.rejected", rejected(N)).details["reason_code"] == (
        "no_meter_stock"
    )


def test_an_event_without_what_its_text_needs_is_unreadable() -> None:
    with pytest.raises(MalformedMessage, match="contact"):
        read_event("application.registered", {**registered(N), "contact": None})
    body = completed(N)
    del body["act"]["meter_serial"]
    with pytest.raises(MalformedMessage, match="meter_serial"):
        read_event("application.completed", body)
    with pytest.raises(MalformedMessage, match="application_number"):
        read_event("application.forwarded", {"occurred_at": "x", "sequence": 2})


@pytest.mark.parametrize(
    ("language", "text", "subject"),
    [
        ("az", f"{N} nömrəli müraciətiniz geri götürüldü.", f"Müraciət {N}: Geri götürüldü"),
        ("en", f"Your application {N} has been withdrawn.", f"Application {N}: Withdrawn"),
        ("ru", f"Ваша заявка {N} отозвана.", f"Заявка {N}: Отозвана"),
    ],
)
def test_a_withdrawal_is_told_in_the_applicants_language(
    language: str, text: str, subject: str
) -> None:
    assert step_text("application.withdrawn", N, {}, language) == text
    notice = render("application.withdrawn", N, {}, language)
    assert notice.subject == subject
    assert notice.text.startswith(text)
    assert sms_text("application.withdrawn", N, {}, language) == text


@pytest.mark.parametrize(
    ("language", "mention"),
    [
        ("az", "Quraşdırma aktının nüsxəsi məktuba əlavə edilib: akt-AKT-7.pdf."),
        ("en", "A copy of the installation act is attached: akt-AKT-7.pdf."),
        ("ru", "Копия акта установки приложена к письму: akt-AKT-7.pdf."),
    ],
)
def test_an_email_with_the_acts_copy_says_so_after_the_steps_sentence(
    language: str, mention: str
) -> None:
    sentence = step_text("application.completed", N, ACT, language)
    notice = render("application.completed", N, ACT, language, ["akt-AKT-7.pdf"])
    assert notice.text.startswith(f"{sentence}\n\n{mention}\n\n-- \n")
    assert f"<p>{mention}</p>" in notice.html
    assert mention not in render("application.completed", N, ACT, language).text
    assert mention not in sms_text("application.completed", N, ACT, language)
