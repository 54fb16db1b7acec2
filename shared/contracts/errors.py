"""Refusal codes of the external contract and their texts in az, en and ru."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

LANGUAGES = ("az", "en", "ru")
DEFAULT_LANGUAGE = "az"


class ErrorCode(StrEnum):
    REQUIRED = "required"
    INVALID_TYPE = "invalid_type"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_LANGUAGE = "invalid_language"
    INVALID_PHONE = "invalid_phone"
    INVALID_EMAIL = "invalid_email"
    UNKNOWN_REASON = "unknown_reason"
    NOTES_TOO_LONG = "notes_too_long"
    DATA_NOT_CONFIRMED = "data_not_confirmed"
    SUBSCRIBER_NOT_FOUND = "subscriber_not_found"
    OPEN_APPLICATION_EXISTS = "open_application_exists"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    MALFORMED_MESSAGE = "malformed_message"
    MESSAGE_TOO_LARGE = "message_too_large"
    # dispatcher.report_outcome
    UNKNOWN_WORK_ORDER = "unknown_work_order"
    WRONG_TEAM = "wrong_team"
    WORK_ORDER_CLOSED = "work_order_closed"
    ACT_REQUIRED = "act_required"
    INVALID_ACT = "invalid_act"
    INVALID_REASON_CODE = "invalid_reason_code"
    # dispatcher.withdraw_application
    NOT_FOUND = "not_found"
    CANNOT_WITHDRAW = "cannot_withdraw"


_TEXTS: dict[ErrorCode, dict[str, str]] = {
    ErrorCode.REQUIRED: {
        "az": "Bu sahə mütləqdir.",
        "en": "This field is required.",
        "ru": "Это поле обязательно.",
    },
    ErrorCode.INVALID_TYPE: {
        "az": "Sahənin tipi yanlışdır: {expected} gözlənilir.",
        "en": "Wrong type: {expected} expected.",
        "ru": "Неверный тип: ожидается {expected}.",
    },
    ErrorCode.UNKNOWN_FIELD: {
        "az": "Naməlum sahə: {field}.",
        "en": "Unknown field: {field}.",
        "ru": "Неизвестное поле: {field}.",
    },
    ErrorCode.INVALID_LANGUAGE: {
        "az": "Dil az, en və ya ru olmalıdır.",
        "en": "Language must be az, en or ru.",
        "ru": "Язык должен быть az, en или ru.",
    },
    ErrorCode.INVALID_PHONE: {
        "az": "Telefon nömrəsi Azərbaycan mobil nömrəsi olmalıdır (məsələn, +994501234567).",
        "en": "The phone must be an Azerbaijani mobile number (for example +994501234567).",
        "ru": "Телефон должен быть мобильным номером Азербайджана (например, +994501234567).",
    },
    ErrorCode.INVALID_EMAIL: {
        "az": "Elektron poçt ünvanı düzgün deyil.",
        "en": "The e-mail address is not valid.",
        "ru": "Адрес электронной почты указан неверно.",
    },
    ErrorCode.UNKNOWN_REASON: {
        "az": "Müraciət səbəbi siyahıdan seçilməlidir.",
        "en": "The reason must be one from the list of reasons.",
        "ru": "Причина должна быть выбрана из списка.",
    },
    ErrorCode.NOTES_TOO_LONG: {
        "az": "Qeydlər ən çox 1000 simvol ola bilər.",
        "en": "Notes may be at most 1000 characters long.",
        "ru": "Примечание может содержать не более 1000 символов.",
    },
    ErrorCode.DATA_NOT_CONFIRMED: {
        "az": "Daxil edilən məlumatların düzgünlüyünü təsdiq etməlisiniz.",
        "en": "You must confirm that the data entered is correct.",
        "ru": "Необходимо подтвердить правильность введённых данных.",
    },
    ErrorCode.SUBSCRIBER_NOT_FOUND: {
        "az": "Bu abonent kodu sizin adınıza tapılmadı.",
        "en": "This subscriber code was not found for you.",
        "ru": "Этот абонентский код не найден на ваше имя.",
    },
    ErrorCode.OPEN_APPLICATION_EXISTS: {
        "az": "Bu abonent kodu və səbəb üzrə açıq müraciət artıq var: {number}.",
        "en": "An open application for this subscriber code and reason already exists: {number}.",
        "ru": "По этому абонентскому коду и причине уже есть открытая заявка: {number}.",
    },
    ErrorCode.UNAUTHENTICATED: {
        "az": "Göndərən tanınmadı: mesaj tanınan broker istifadəçisinin user_id-si ilə gəlməlidir.",
        "en": "The sender is not recognised: the message must carry a known broker user's user_id.",
        "ru": "Отправитель не распознан: сообщение должно нести user_id известного пользователя.",
    },
    ErrorCode.FORBIDDEN: {
        "az": "Bu göndərənin bu əməliyyata icazəsi yoxdur.",
        "en": "This sender may not do this.",
        "ru": "Этому отправителю это действие не разрешено.",
    },
    ErrorCode.MALFORMED_MESSAGE: {
        "az": "Mesaj oxunmadı: {detail}.",
        "en": "The message could not be read: {detail}.",
        "ru": "Сообщение не удалось прочитать: {detail}.",
    },
    ErrorCode.MESSAGE_TOO_LARGE: {
        "az": "Mesaj çox böyükdür: {detail} bayt.",
        "en": "The message is too large: {detail} bytes.",
        "ru": "Сообщение слишком большое: {detail} байт.",
    },
    ErrorCode.UNKNOWN_WORK_ORDER: {
        "az": "İş sifarişi tapılmadı.",
        "en": "Unknown work order.",
        "ru": "Наряд не найден.",
    },
    ErrorCode.WRONG_TEAM: {
        "az": "İş sifarişi başqa briqadaya təyin edilib.",
        "en": "The work order is assigned to another team.",
        "ru": "Наряд назначен другой бригаде.",
    },
    ErrorCode.WORK_ORDER_CLOSED: {
        "az": "İş sifarişi artıq bağlanıb.",
        "en": "The work order is already closed.",
        "ru": "Наряд уже закрыт.",
    },
    ErrorCode.ACT_REQUIRED: {
        "az": "Bu nəticə üçün akt tələb olunur.",
        "en": "An act is required for this outcome.",
        "ru": "Для этого результата требуется акт.",
    },
    ErrorCode.INVALID_ACT: {
        "az": "Akt düzgün deyil: {detail}.",
        "en": "The act is not valid: {detail}.",
        "ru": "Акт заполнен неверно: {detail}.",
    },
    ErrorCode.INVALID_REASON_CODE: {
        "az": "Səbəb kodu no_meter_stock və ya unsuitable_water_line olmalıdır.",
        "en": "The reason code must be no_meter_stock or unsuitable_water_line.",
        "ru": "Код причины должен быть no_meter_stock или unsuitable_water_line.",
    },
    ErrorCode.NOT_FOUND: {
        "az": "Müraciət tapılmadı.",
        "en": "No such application of yours.",
        "ru": "Заявка не найдена.",
    },
    ErrorCode.CANNOT_WITHDRAW: {
        "az": "Müraciəti artıq geri götürmək olmaz: icraçı təyin edilib və ya müraciət bağlanıb.",
        "en": "The application can no longer be withdrawn: a team is assigned or it is closed.",
        "ru": "Заявку уже нельзя отозвать: назначен исполнитель или она закрыта.",
    },
}


class FieldError(BaseModel):
    """One broken rule: the body field it concerns, a stable code, a human message."""

    field: str
    code: ErrorCode
    message: str


def error_text(code: ErrorCode, language: str, **values: str) -> str:
    texts = _TEXTS[code]
    template = texts.get(language, texts[DEFAULT_LANGUAGE])
    return template.format_map(_Defaulting(values))


def field_error(field: str, code: ErrorCode, language: str, **values: str) -> FieldError:
    values.setdefault("field", field)
    return FieldError(field=field, code=code, message=error_text(code, language, **values))


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"
