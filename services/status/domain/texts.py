"""Words of the view in the application's language (az default; en and ru translate)."""

from __future__ import annotations

from shared.contracts.catalogue import (
    REJECTION_LABELS,
    STATUS_LABELS,
    RejectionReason,
    Status,
)

_COMPLETION_NOTES = {
    "installed": {
        "az": "Sayğac quraşdırıldı: {serial}, akt: {act}.",
        "en": "Meter installed: {serial}, act: {act}.",
        "ru": "Счётчик установлен: {serial}, акт: {act}.",
    },
    "existing_meter_registered": {
        "az": "Mövcud sayğacınız ({serial}) qeydiyyata alındı, akt: {act}.",
        "en": "Your existing meter ({serial}) has been registered, act: {act}.",
        "ru": "Ваш существующий счётчик ({serial}) зарегистрирован, акт: {act}.",
    },
}


def _in(texts: dict[str, str], language: str) -> str:
    return texts.get(language, texts["az"])


def status_label(status: Status) -> str:
    """Labels are in Azerbaijani whatever the application's language (docs/integration.md)."""
    return STATUS_LABELS[status]["az"]


def completion_note(outcome: str, act: dict[str, object], language: str) -> str:
    template = _in(_COMPLETION_NOTES.get(outcome, _COMPLETION_NOTES["installed"]), language)
    return template.format(serial=act.get("meter_serial", "?"), act=act.get("act_number", "?"))


def rejection_message(reason_code: str, comment: str, language: str) -> str:
    """ "İcra edilmədi: sayğac ehtiyatı yoxdur." — the reason in words, never its code."""
    not_executed = _in(STATUS_LABELS[Status.REJECTED], language)
    try:
        words = _in(REJECTION_LABELS[RejectionReason(reason_code)], language)
    except ValueError:  # a reason this service does not know yet: the dispatcher's words
        words = comment.strip().rstrip(".") or reason_code
    return f"{not_executed}: {words}."
