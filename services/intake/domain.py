"""Intake's pure rules: what a submission gets given what is stored, numbering, texts.

No I/O here: the use cases look up the subscriber and open applications, then ask
``decide`` what the answer is. Shapes and per-field rules are the contract's
(``shared.contracts.commands.SubmitApplication``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from shared.clock import baku
from shared.contracts.catalogue import REASON_LABELS, Reason
from shared.contracts.commands import SubmitApplication
from shared.contracts.errors import DEFAULT_LANGUAGE, LANGUAGES, ErrorCode, FieldError, field_error
from shared.contracts.fields import normalize_fin
from shared.contracts.reading import Refusal
from shared.contracts.replies import ActiveMeter, ReasonItem, Registered, SubscriberAccount


@dataclass(frozen=True)
class Account:
    """One subscriber code of the directory: whose it is, where, and its meters."""

    subscriber_code: str
    applicant_fin: str
    address: str
    district_code: str
    active_meters: tuple[ActiveMeter, ...] = ()

    def view(self, open_numbers: list[str]) -> SubscriberAccount:
        return SubscriberAccount(
            subscriber_code=self.subscriber_code,
            address=self.address,
            active_meters=list(self.active_meters),
            open_applications=open_numbers,
        )


@dataclass(frozen=True)
class Application:
    """A registered application as intake keeps it, with the reply it got."""

    number: str
    submission_id: str
    open_key: str
    applicant_fin: str
    subscriber_code: str
    reason_code: str
    channel: str
    registered_at: datetime
    reply: Registered


@dataclass(frozen=True)
class ServiceLevel:
    """How long an application may take: working days (Monday to Friday, Asia/Baku) from
    its registration date, holidays not counted."""

    working_days: int = 10
    holidays: frozenset[date] = field(default_factory=frozenset)

    def due_by(self, registered_at: datetime) -> date:
        """The date an application registered at ``registered_at`` is due."""
        day, left = baku(registered_at).date(), self.working_days
        while left > 0:
            day += timedelta(days=1)
            if day.weekday() < 5 and day not in self.holidays:
                left -= 1
        return day


def read_holidays(lines: Iterable[str]) -> frozenset[date]:
    """Holiday dates, one ``YYYY-MM-DD`` a line (words after it, blank lines and ``#``
    comments allowed); ``ValueError`` naming the first bad line."""
    found: set[date] = set()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            found.add(date.fromisoformat(text.split()[0]))
        except ValueError:
            raise ValueError(f"line {number}: {line.strip()!r} is not a YYYY-MM-DD date") from None
    return frozenset(found)


LAST_SEQUENCE = 999_999  # numbers have six digits
# From this many numbers left in a year the intake warns, once every NUMBERS_WARNING_STEP.
NUMBERS_LOW = 100_000
NUMBERS_WARNING_STEP = 1_000


class NumbersUsedUp(Exception):
    """The year's six-digit numbers are used up: the submission fails (and is parked for an
    operator after its retries) rather than be given a number outside the contract."""

    def __init__(self, year: int, sequence: int) -> None:
        super().__init__(
            f"numbers_used_up: sequence {sequence} of {year} is beyond {LAST_SEQUENCE}"
        )


def numbers_left(taken: int) -> int:
    """The year's numbers still free after ``taken`` were handed out."""
    return max(LAST_SEQUENCE - taken, 0)


def numbers_warning(sequence: int, last_warned: int | None) -> bool:
    """Whether handing out ``sequence`` should warn that the year's numbers run low: when
    fewer than ``NUMBERS_LOW`` are left, once per ``NUMBERS_WARNING_STEP`` (``last_warned``:
    the sequence this process warned at last, of the same year)."""
    if numbers_left(sequence) >= NUMBERS_LOW:
        return False
    if last_warned is None:
        return True
    return sequence // NUMBERS_WARNING_STEP != last_warned // NUMBERS_WARNING_STEP


def application_number(year: int, sequence: int) -> str:
    if not 1 <= sequence <= LAST_SEQUENCE:
        raise NumbersUsedUp(year, sequence)
    return f"SQ-{year}-{sequence:06d}"


def registration_year(moment: datetime) -> int:
    """Numbers carry the year of registration in Asia/Baku time."""
    return baku(moment).year


def open_key(subscriber_code: str, reason_code: str) -> str:
    """The key that allows one open application per subscriber code and reason."""
    return f"{subscriber_code}|{reason_code}"


def reason_labels(language: str) -> list[ReasonItem]:
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return [
        ReasonItem(code=reason.value, label=REASON_LABELS[reason][language]) for reason in Reason
    ]


def active_meter_warning_text(language: str) -> str:
    texts = {
        "az": (
            "Bu abonent kodunda aktiv sayğac mövcuddur. Əlavə sayğac quraşdırılmasını "
            "istəyirsinizsə, müraciəti təsdiq edin."
        ),
        "en": (
            "This subscriber code already has an active meter. Confirm the application if "
            "you want an additional meter installed."
        ),
        "ru": (
            "На этом абонентском коде уже есть активный счётчик. Подтвердите заявку, если "
            "хотите установить дополнительный счётчик."
        ),
    }
    return texts.get(language, texts[DEFAULT_LANGUAGE])


def owns(account: Account | None, applicant_fin: str) -> bool:
    return account is not None and account.applicant_fin == normalize_fin(applicant_fin)


@dataclass(frozen=True)
class Accept:
    """Register it: the submission, where it goes, and whether it adds a meter."""

    submission: SubmitApplication
    district_code: str
    additional_meter: bool
    address: str = ""  # for the field team's work order (meter.field)


@dataclass(frozen=True)
class NeedsConfirmation:
    active_meters: list[ActiveMeter]
    language: str


@dataclass(frozen=True)
class Refuse:
    errors: list[FieldError]


Decision = Accept | NeedsConfirmation | Refuse


def subscriber_names(parsed: SubmitApplication | Refusal) -> tuple[str, str] | None:
    """The FIN and subscriber code a submission names, when both arrived as text."""
    if isinstance(parsed, SubmitApplication):
        return parsed.applicant_fin, parsed.subscriber_code
    fin, code = parsed.text("applicant_fin"), parsed.text("subscriber_code")
    return (fin, code.strip()) if fin and code else None


def decide(
    parsed: SubmitApplication | Refusal, account: Account | None, open_number: str | None
) -> Decision:
    """Every rule of a submission, given what is stored, all broken ones at once.

    ``account`` is the subscriber the submission names (None when unknown); ``open_number``
    the open application holding the same subscriber code and reason, if any.
    """
    errors = list(parsed.errors) if isinstance(parsed, Refusal) else []
    names = subscriber_names(parsed)
    if names is not None:
        if not owns(account, names[0]):
            # Someone else's code reads as unknown: existence is not leaked.
            errors.append(
                field_error("subscriber_code", ErrorCode.SUBSCRIBER_NOT_FOUND, parsed.language)
            )
        elif open_number is not None:
            errors.append(
                field_error(
                    "subscriber_code",
                    ErrorCode.OPEN_APPLICATION_EXISTS,
                    parsed.language,
                    number=open_number,
                )
            )
    if errors or isinstance(parsed, Refusal) or account is None:
        return Refuse(errors)
    meters = list(account.active_meters)
    if meters and not parsed.additional_meter_confirmed:
        return NeedsConfirmation(meters, parsed.language)
    return Accept(
        parsed, account.district_code, additional_meter=bool(meters), address=account.address
    )
