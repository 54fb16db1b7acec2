"""What the citizen reads: the sentences of docs/reference/notifications.md (az as given, en
and ru translated) and the e-mail's subject, plain text and HTML for each step (pure).

The registration sentence is ``shared.contracts.catalogue.registration_text``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.notifier.domain import smsparts
from services.notifier.domain.steps import STEPS, language_of, reason_in_words
from shared.contracts.catalogue import STATUS_LABELS, registration_text
from shared.contracts.events import (
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationRegistered,
    ApplicationRejected,
    ApplicationWithdrawn,
)

TEMPLATES: dict[str, dict[str, str]] = {
    "forwarded": {
        "az": "{number} nömrəli müraciətiniz icraya yönləndirildi.",
        "en": "Your application {number} has been forwarded for execution.",
        "ru": "Ваша заявка {number} направлена на исполнение.",
    },
    "installed": {
        "az": "{number} nömrəli müraciətiniz icra edildi. Sayğac: {serial}, akt: {act}.",
        "en": "Your application {number} has been completed. Meter: {serial}, act: {act}.",
        "ru": "Ваша заявка {number} исполнена. Счётчик: {serial}, акт: {act}.",
    },
    "existing_meter_registered": {
        "az": (
            "{number} nömrəli müraciətiniz icra edildi. Mövcud sayğacınız ({serial}) "
            "qeydiyyata alındı, akt: {act}."
        ),
        "en": (
            "Your application {number} has been completed. Your existing meter ({serial}) "
            "has been registered, act: {act}."
        ),
        "ru": (
            "Ваша заявка {number} исполнена. Ваш существующий счётчик ({serial}) "
            "зарегистрирован, акт: {act}."
        ),
    },
    "rejected": {
        "az": "{number} nömrəli müraciətiniz icra edilmədi. Səbəb: {reason}.",
        "en": "Your application {number} has not been executed. Reason: {reason}.",
        "ru": "Ваша заявка {number} не исполнена. Причина: {reason}.",
    },
    "withdrawn": {
        "az": "{number} nömrəli müraciətiniz geri götürüldü.",
        "en": "Your application {number} has been withdrawn.",
        "ru": "Ваша заявка {number} отозвана.",
    },
    # The e-mail names what it carries, so the citizen looks for the act's copy.
    "attached": {
        "az": "Quraşdırma aktının nüsxəsi məktuba əlavə edilib: {files}.",
        "en": "A copy of the installation act is attached: {files}.",
        "ru": "Копия акта установки приложена к письму: {files}.",
    },
    "subject": {
        "az": "Müraciət {number}: {label}",
        "en": "Application {number}: {label}",
        "ru": "Заявка {number}: {label}",
    },
    "footer": {
        "az": "Bu məktub avtomatik göndərilib, ona cavab verməyin.",
        "en": "This message was sent automatically; please do not reply.",
        "ru": "Это письмо отправлено автоматически, не отвечайте на него.",
    },
}


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str
    html: str


def step_text(key: str, number: str, details: Mapping[str, str], language: str) -> str:
    """The sentence of docs/reference/notifications.md for this step, in ``language``."""
    language = language_of(language)
    if key == ApplicationRegistered.routing_key:
        return registration_text(number, language)
    if key == ApplicationForwarded.routing_key:
        return TEMPLATES["forwarded"][language].format(number=number)
    if key == ApplicationCompleted.routing_key:
        template = TEMPLATES[
            "existing_meter_registered"
            if details.get("outcome") == "existing_meter_registered"
            else "installed"
        ][language]
        return template.format(
            number=number, serial=details["meter_serial"], act=details["act_number"]
        )
    if key == ApplicationRejected.routing_key:
        reason = reason_in_words(
            details.get("reason_code", ""), details.get("comment", ""), language
        )
        return TEMPLATES["rejected"][language].format(number=number, reason=reason)
    if key == ApplicationWithdrawn.routing_key:
        return TEMPLATES["withdrawn"][language].format(number=number)
    raise ValueError(f"no text for {key!r}: the citizen is not told of it")


def render(
    key: str,
    number: str,
    details: Mapping[str, str],
    language: str,
    attachments: Sequence[str] = (),
) -> Notice:
    """Subject, plain text and HTML of the e-mail for one step; ``attachments``: the names
    of the files it carries, told after the step's sentence."""
    language = language_of(language)
    paragraphs = [step_text(key, number, details, language)]
    if attachments:
        files = ", ".join(attachments)
        paragraphs.append(TEMPLATES["attached"][language].format(files=files))
    label = STATUS_LABELS[STEPS[key]][language]
    footer = TEMPLATES["footer"][language]
    body = (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8"></head><body>'
        + "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
        + f'<p style="color:#666;font-size:small">{html.escape(footer)}</p></body></html>\n'
    )
    return Notice(
        subject=TEMPLATES["subject"][language].format(number=number, label=label),
        text="\n\n".join(paragraphs) + f"\n\n-- \n{footer}\n",
        html=body,
    )


def sms_text(key: str, number: str, details: Mapping[str, str], language: str) -> str:
    """The step's sentence as an SMS: within three parts, still naming the number."""
    return smsparts.fit(step_text(key, number, details, language), number)
