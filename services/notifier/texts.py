"""The notification sentences of DESIGN.md section 6: az as given, en and ru translated.

The registration sentence is ``shared.contracts.catalogue.registration_text``.
"""

from __future__ import annotations

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
