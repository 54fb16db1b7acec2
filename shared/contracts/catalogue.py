"""Stable codes the citizen sees: application reasons and statuses, with their labels."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    NEW_INSTALLATION = "new_installation"
    ADDITIONAL_METER = "additional_meter"
    REPLACE_FAULTY = "replace_faulty"
    REPLACE_VERIFICATION_EXPIRED = "replace_verification_expired"
    RELOCATE_METER = "relocate_meter"
    REGISTER_EXISTING = "register_existing"


REASON_LABELS: dict[Reason, dict[str, str]] = {
    Reason.NEW_INSTALLATION: {
        "az": "Yeni su sayğacının quraşdırılması",
        "en": "Installation of a new water meter",
        "ru": "Установка нового счётчика воды",
    },
    Reason.ADDITIONAL_METER: {
        "az": "Əlavə su sayğacının quraşdırılması",
        "en": "Installation of an additional water meter",
        "ru": "Установка дополнительного счётчика воды",
    },
    Reason.REPLACE_FAULTY: {
        "az": "Nasaz sayğacın dəyişdirilməsi",
        "en": "Replacement of a faulty meter",
        "ru": "Замена неисправного счётчика",
    },
    Reason.REPLACE_VERIFICATION_EXPIRED: {
        "az": "Yoxlama müddəti bitmiş sayğacın dəyişdirilməsi",
        "en": "Replacement of a meter whose verification has expired",
        "ru": "Замена счётчика с истёкшим сроком поверки",
    },
    Reason.RELOCATE_METER: {
        "az": "Sayğacın yerinin dəyişdirilməsi",
        "en": "Relocation of a meter",
        "ru": "Перенос счётчика",
    },
    Reason.REGISTER_EXISTING: {
        "az": "Normativlərə uyğun quraşdırılmış mövcud sayğacın qeydiyyata alınması",
        "en": "Registration of an existing meter installed to the norms",
        "ru": "Регистрация существующего счётчика, установленного по нормативам",
    },
}


class Status(StrEnum):
    REGISTERED = "registered"
    FORWARDED = "forwarded"
    ASSIGNED = "assigned"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def is_open(self) -> bool:
        """Open: neither completed, rejected nor withdrawn."""
        return self in (Status.REGISTERED, Status.FORWARDED, Status.ASSIGNED)


STATUS_LABELS: dict[Status, dict[str, str]] = {
    Status.REGISTERED: {"az": "Qeydiyyata alındı", "en": "Registered", "ru": "Зарегистрирована"},
    Status.FORWARDED: {
        "az": "İcraya yönləndirildi",
        "en": "Forwarded for execution",
        "ru": "Направлена на исполнение",
    },
    Status.ASSIGNED: {
        "az": "İcraçı təyin edildi",
        "en": "Executor assigned",
        "ru": "Назначен исполнитель",
    },
    Status.COMPLETED: {"az": "İcra edildi", "en": "Completed", "ru": "Исполнена"},
    Status.REJECTED: {"az": "İcra edilmədi", "en": "Not executed", "ru": "Не исполнена"},
    Status.WITHDRAWN: {"az": "Geri götürüldü", "en": "Withdrawn", "ru": "Отозвана"},
}


class RejectionReason(StrEnum):
    NO_METER_STOCK = "no_meter_stock"
    UNSUITABLE_WATER_LINE = "unsuitable_water_line"


REJECTION_LABELS: dict[RejectionReason, dict[str, str]] = {
    RejectionReason.NO_METER_STOCK: {
        "az": "sayğac ehtiyatı yoxdur",
        "en": "there is no meter in stock",
        "ru": "нет счётчиков на складе",
    },
    RejectionReason.UNSUITABLE_WATER_LINE: {
        "az": "su xətti uyğun deyil",
        "en": "the water line is unsuitable",
        "ru": "водопроводная линия не подходит",
    },
}


# The e-su.az portal's own confirmation screen; e-gov.az and azersu.az show the other one.
_SHORT_REGISTRATION_TEXTS = {
    "az": "Müraciətiniz qeydə alındı. Müraciət nömrəniz: {number}",
    "en": "Your application has been recorded. Your application number: {number}",
    "ru": "Ваша заявка принята. Номер вашей заявки: {number}",
}


def registration_text(number: str, language: str, channel: str = "e-gov") -> str:
    """The registration sentence of the channel's own screen, in ``language``.

    e-gov and azersu: the utility's full sentence; e-su: its short one.
    """
    if channel == "e-su":
        texts = _SHORT_REGISTRATION_TEXTS
        return texts.get(language, texts["az"]).format(number=number)
    texts = {
        "az": (
            "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
            "təşəkkür edirik. Müraciət nömrəniz: {number}"
        ),
        "en": (
            "Your application has been registered. Thank you for using our service. "
            "Your application number: {number}"
        ),
        "ru": (
            "Ваша заявка зарегистрирована. Благодарим вас за пользование нашей услугой. "
            "Номер вашей заявки: {number}"
        ),
    }
    return texts.get(language, texts["az"]).format(number=number)
