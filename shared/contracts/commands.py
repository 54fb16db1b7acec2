"""Commands and queries on ``meter.commands``: one pydantic model each, the single source of
their shape, their rules, the AsyncAPI document and the docs.

Each model names its routing key, the service that owns it and the role that may send it.
Per-field rules live in the field types (``shared.contracts.fields``); rules across fields
in ``contract_rules``, which runs only once every field is well formed.
``shared.contracts.reading`` reads a wire body into one of these or into the refusal.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SkipValidation, model_validator

from shared.contracts.catalogue import Reason, RejectionReason
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.fields import (
    Fin,
    Flag,
    Language,
    MaybeText,
    RequiredText,
    Text,
    Trimmed,
    WholeNumber,
    rule_error,
)


class Service(StrEnum):
    INTAKE = "intake"
    DISPATCHER = "dispatcher"
    NOTIFIER = "notifier"
    STATUS = "status"


class Role(StrEnum):
    """Who may send a command (docs/security.md)."""

    PORTAL = "portal"
    FIELD_APP = "field_app"
    OPERATIONS = "operations"


class Contract(BaseModel):
    """A message of the external contract: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Command(Contract):
    """A command or query: its routing key, owner and sender; its reply's models."""

    routing_key: ClassVar[str]
    owner: ClassVar[Service]
    sender: ClassVar[Role]
    # Per-field value rules are reported in this order, after every shape error.
    rule_order: ClassVar[tuple[str, ...]] = ()
    # The refusal codes of this command's own rules (the docs list them).
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = ()

    @classmethod
    def message_language(cls, body: dict[str, Any]) -> str:
        """The language refusals are written in: the body's own if the command has one."""
        language = body.get("language")
        if "language" in cls.model_fields and language in ("az", "en", "ru"):
            return str(language)
        return "az"


class ContractRules(Exception):
    """Rules across fields that a well-formed command broke, all at once."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{error.field}: {error.code}" for error in errors))
        self.errors = errors


# --- intake -------------------------------------------------------------------------------

NOTES_LIMIT = 1000
_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def normalize_phone(value: str) -> str | None:
    """The number as E.164 if it is an Azerbaijani mobile number, else None."""
    try:
        number = phonenumbers.parse(value, "AZ")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 994 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str | None:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _phone(value: str) -> str:
    phone = normalize_phone(value)
    if phone is None:
        raise rule_error(ErrorCode.INVALID_PHONE, after_shape=True)
    return phone


def _email(value: str) -> str:
    email = normalize_email(value)
    if email is None:
        raise rule_error(ErrorCode.INVALID_EMAIL, after_shape=True)
    return email


def _reason(value: str) -> str:
    if value not in Reason.__members__.values():
        raise rule_error(ErrorCode.UNKNOWN_REASON, after_shape=True)
    return value


def _notes(value: str) -> str:
    if len(value) > NOTES_LIMIT:  # code points, as the contract counts
        raise rule_error(ErrorCode.NOTES_TOO_LONG, after_shape=True)
    return value


def _confirmed(value: bool) -> bool:
    if value is not True:
        raise rule_error(ErrorCode.DATA_NOT_CONFIRMED, after_shape=True)
    return value


class ListReasons(Command):
    routing_key: ClassVar[str] = "intake.list_reasons"
    owner: ClassVar[Service] = Service.INTAKE
    sender: ClassVar[Role] = Role.PORTAL
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = (ErrorCode.INVALID_LANGUAGE,)

    language: Language = "az"


class ListSubscriberAccounts(Command):
    routing_key: ClassVar[str] = "intake.list_subscriber_accounts"
    owner: ClassVar[Service] = Service.INTAKE
    sender: ClassVar[Role] = Role.PORTAL

    applicant_fin: Fin


class CheckSubscriber(Command):
    routing_key: ClassVar[str] = "intake.check_subscriber"
    owner: ClassVar[Service] = Service.INTAKE
    sender: ClassVar[Role] = Role.PORTAL
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = (ErrorCode.SUBSCRIBER_NOT_FOUND,)

    applicant_fin: Fin
    subscriber_code: Trimmed


class SubmitApplication(Command):
    """A citizen's application; phone and e-mail arrive normalized (E.164, e-mail form)."""

    routing_key: ClassVar[str] = "intake.submit_application"
    owner: ClassVar[Service] = Service.INTAKE
    sender: ClassVar[Role] = Role.PORTAL
    rule_order: ClassVar[tuple[str, ...]] = (
        "language",
        "phone",
        "email",
        "reason_code",
        "notes",
        "data_confirmed",
    )
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = (
        ErrorCode.INVALID_LANGUAGE,
        ErrorCode.INVALID_PHONE,
        ErrorCode.INVALID_EMAIL,
        ErrorCode.UNKNOWN_REASON,
        ErrorCode.NOTES_TOO_LONG,
        ErrorCode.DATA_NOT_CONFIRMED,
        ErrorCode.SUBSCRIBER_NOT_FOUND,
        ErrorCode.OPEN_APPLICATION_EXISTS,
    )

    submission_id: Annotated[
        Trimmed, Field(description="portal-generated UUID, the idempotency key")
    ]
    applicant_fin: Fin
    subscriber_code: Trimmed
    reason_code: Annotated[
        RequiredText,
        AfterValidator(_reason),
        Field(
            description="a code from intake.list_reasons",
            json_schema_extra={"enum": [reason.value for reason in Reason]},
        ),
    ]
    phone: Annotated[
        RequiredText,
        AfterValidator(_phone),
        Field(description="an Azerbaijani mobile number: +994501234567, 050 123 45 67, …"),
    ]
    email: Annotated[RequiredText, AfterValidator(_email)]
    notes: Annotated[Text, AfterValidator(_notes), Field(description="at most 1000 characters")] = (
        ""
    )
    additional_meter_confirmed: Flag = False
    data_confirmed: Annotated[Flag, AfterValidator(_confirmed), Field(description="must be true")]
    language: Language = "az"

    @property
    def reason(self) -> Reason:
        return Reason(self.reason_code)


# --- status -------------------------------------------------------------------------------

NUMBER_PATTERN = r"^SQ-[0-9]{4}-[0-9]{6}$"  # [0-9], not \d: no other scripts' digits


def is_application_number(value: str) -> bool:
    return re.fullmatch(NUMBER_PATTERN, value, re.ASCII) is not None


class GetApplication(Command):
    routing_key: ClassVar[str] = "status.get_application"
    owner: ClassVar[Service] = Service.STATUS
    sender: ClassVar[Role] = Role.PORTAL

    applicant_fin: Fin
    application_number: Annotated[Trimmed, Field(examples=["SQ-2026-000001"])]


class ListApplications(Command):
    routing_key: ClassVar[str] = "status.list_applications"
    owner: ClassVar[Service] = Service.STATUS
    sender: ClassVar[Role] = Role.PORTAL

    applicant_fin: Fin


# --- dispatcher ---------------------------------------------------------------------------

_READING = re.compile(r"^\d{1,9}(\.\d{1,3})?$")


class Act(BaseModel):
    """The installation act a field team draws up; ``meter_model`` may be empty.

    Services that pass an act on drop fields they do not know.
    """

    model_config = ConfigDict(extra="ignore")

    act_number: str
    meter_serial: str
    meter_model: str = Field(description="may be empty")
    initial_reading_m3: str = Field(description="cubic metres, e.g. 0.000", examples=["0.000"])
    seal_numbers: list[str] = Field(description="at least one")
    installed_at: str = Field(description="ISO 8601 with an offset")
    installer_name: str


ACT_FIELDS = tuple(Act.model_fields)


class Outcome(StrEnum):
    INSTALLED = "installed"
    EXISTING_METER_REGISTERED = "existing_meter_registered"
    NOT_EXECUTED = "not_executed"


def _outcome(value: str) -> str:
    if value not in Outcome.__members__.values():
        expected = " | ".join(Outcome)
        raise rule_error(ErrorCode.INVALID_TYPE, after_shape=True, expected=expected)
    return value


class ReportOutcome(Command):
    """A field team's report on its work order."""

    routing_key: ClassVar[str] = "dispatcher.report_outcome"
    owner: ClassVar[Service] = Service.DISPATCHER
    sender: ClassVar[Role] = Role.FIELD_APP
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = (
        ErrorCode.UNKNOWN_WORK_ORDER,
        ErrorCode.WRONG_TEAM,
        ErrorCode.WORK_ORDER_CLOSED,
        ErrorCode.ACT_REQUIRED,
        ErrorCode.INVALID_ACT,
        ErrorCode.INVALID_REASON_CODE,
        ErrorCode.FORBIDDEN,
    )

    application_number: Trimmed
    work_order_id: Annotated[Trimmed, Field(description="from the work order's assignment")]
    team_id: Trimmed
    outcome: Annotated[
        RequiredText,
        AfterValidator(_outcome),
        Field(json_schema_extra={"enum": [outcome.value for outcome in Outcome]}),
    ]
    # Checked by the rules below, not as a shape: its problems are ``invalid_act``.
    act: Annotated[
        Act | None,
        SkipValidation,
        Field(description="required unless not_executed, absent then"),
    ] = None
    reason_code: Annotated[
        MaybeText,
        Field(
            description="when not_executed",
            json_schema_extra={"enum": [reason.value for reason in RejectionReason]},
        ),
    ] = None
    comment: Text = ""

    @model_validator(mode="after")
    def _act_and_reason(self) -> ReportOutcome:
        errors: list[FieldError] = []
        reason = self.reason_code or None
        raw: Any = self.act
        if self.outcome == Outcome.NOT_EXECUTED:
            if raw is not None:
                errors.append(_invalid_act("act", "icra edilmədikdə akt göndərilmir"))
            if reason not in RejectionReason.__members__.values():
                errors.append(field_error("reason_code", ErrorCode.INVALID_REASON_CODE, "az"))
        else:
            errors.extend(act_errors(raw))
            if reason is not None:
                errors.append(field_error("reason_code", ErrorCode.INVALID_REASON_CODE, "az"))
        if errors:
            raise ContractRules(errors)
        self.reason_code = reason
        if raw is not None:
            self.act = Act.model_validate({name: raw[name] for name in ACT_FIELDS})
        return self

    @property
    def rejection_reason(self) -> RejectionReason | None:
        return None if self.reason_code is None else RejectionReason(self.reason_code)


def act_errors(act: Any) -> list[FieldError]:
    """An installation act must carry every field; only ``meter_model`` may be empty."""
    if act is None:
        return [field_error("act", ErrorCode.ACT_REQUIRED, "az")]
    if not isinstance(act, dict):
        return [_invalid_act("act", "akt obyekt olmalıdır")]
    problems = [(name, "naməlum sahədir") for name in act if name not in ACT_FIELDS]
    problems.extend(
        (name, problem) for name in _ACT_CHECK_ORDER if (problem := _act_value(name, act))
    )
    return [_invalid_act(f"act.{name}", f"{name} {problem}") for name, problem in problems]


# The order act problems are reported in (text fields first).
_ACT_CHECK_ORDER = (
    "act_number",
    "meter_serial",
    "meter_model",
    "installer_name",
    "initial_reading_m3",
    "seal_numbers",
    "installed_at",
)


def _act_value(name: str, act: dict[str, Any]) -> str | None:
    """What is wrong with one act field (az), or None."""
    value = act.get(name)
    if value is None:
        return "yoxdur"
    if name == "seal_numbers":
        if isinstance(value, list) and value and all(_filled(item) for item in value):
            return None
        return "plomb nömrələrinin boş olmayan siyahısı olmalıdır"
    if not isinstance(value, str):
        return "mətn olmalıdır"
    if name == "initial_reading_m3" and not _READING.match(value):
        return "onluq ədəd olmalıdır, məsələn 0.000"
    if name == "installed_at" and not _moment(value):
        return "saat qurşağı ilə ISO 8601 vaxtı olmalıdır"
    if name != "meter_model" and not value.strip():
        return "boş ola bilməz"
    return None


def _invalid_act(field: str, detail: str) -> FieldError:
    return field_error(field, ErrorCode.INVALID_ACT, "az", detail=detail)


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _moment(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


class ReceiveStock(Command):
    """Meters received into a district's stock (operations)."""

    routing_key: ClassVar[str] = "dispatcher.receive_stock"
    owner: ClassVar[Service] = Service.DISPATCHER
    sender: ClassVar[Role] = Role.OPERATIONS

    district_code: Trimmed
    quantity: Annotated[WholeNumber, Field(description="at least 1")]

    @model_validator(mode="after")
    def _positive(self) -> ReceiveStock:
        if self.quantity < 1:
            error = field_error(
                "quantity", ErrorCode.INVALID_TYPE, "az", expected="müsbət tam ədəd"
            )
            raise ContractRules([error])
        return self


class WithdrawApplication(Command):
    """A citizen takes back an application before a team is assigned to it."""

    routing_key: ClassVar[str] = "dispatcher.withdraw_application"
    owner: ClassVar[Service] = Service.DISPATCHER
    sender: ClassVar[Role] = Role.PORTAL
    refusal_codes: ClassVar[tuple[ErrorCode, ...]] = (
        ErrorCode.NOT_FOUND,
        ErrorCode.CANNOT_WITHDRAW,
    )

    applicant_fin: Fin
    application_number: Annotated[Trimmed, Field(examples=["SQ-2026-000001"])]
    language: Language = "az"


# Every command and query, in the order the contract lists them.
COMMAND_MODELS: tuple[type[Command], ...] = (
    ListReasons,
    ListSubscriberAccounts,
    CheckSubscriber,
    SubmitApplication,
    GetApplication,
    ListApplications,
    ReportOutcome,
    ReceiveStock,
    WithdrawApplication,
)
