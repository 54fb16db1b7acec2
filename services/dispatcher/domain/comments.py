"""Why the work was not done, in a sentence in the application's language."""

from __future__ import annotations

from shared.contracts.catalogue import RejectionReason
from shared.contracts.errors import DEFAULT_LANGUAGE

_REJECTION_COMMENTS: dict[str, dict[str, str]] = {
    RejectionReason.NO_METER_STOCK: {
        "az": "Hazırda ərazinizdə quraşdırma üçün anbarda su sayğacı yoxdur.",
        "en": "There is currently no water meter in stock for installation in your area.",
        "ru": "В настоящее время на складе нет счётчиков воды для установки в вашем районе.",
    },
    RejectionReason.UNSUITABLE_WATER_LINE: {
        "az": "Su xətti sayğacın quraşdırılması üçün uyğun deyil.",
        "en": "The water line is not suitable for installing a meter.",
        "ru": "Водопроводная линия не подходит для установки счётчика.",
    },
}


def rejection_comment(reason_code: str, language: str) -> str:
    """A sentence saying why the work was not done, in the application's language."""
    texts = _REJECTION_COMMENTS[reason_code]
    return texts.get(language, texts[DEFAULT_LANGUAGE])
