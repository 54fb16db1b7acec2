"""Field types of the commands: each broken rule raises the contract's own error code.

A validator here raises ``rule_error(code, ...)``; ``shared.contracts.reading`` turns the
pydantic error into a ``FieldError`` with the field's path and a message in the sender's
language. Types are checked strictly, as JSON has them: a number is never a string or a
boolean, a boolean never a number.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from shared.contracts.errors import LANGUAGES, ErrorCode

# ctx key telling the reader that an error is a value rule, ordered after every shape error.
RULE_STAGE = "_rule"


def rule_error(code: ErrorCode, *, after_shape: bool = False, **values: str) -> PydanticCustomError:
    """A contract error for pydantic to report; ``values`` fill the message's placeholders.

    ``after_shape``: report it after every missing or mistyped field, as a value rule.
    """
    context: dict[str, Any] = dict(values)
    if after_shape:
        context[RULE_STAGE] = True
    return PydanticCustomError(code.value, code.value, context or None)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise rule_error(ErrorCode.INVALID_TYPE, expected="string")
    return value


def _maybe_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _required_text(value: Any) -> str:
    if not _text(value).strip():
        raise rule_error(ErrorCode.REQUIRED)
    return str(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise rule_error(ErrorCode.INVALID_TYPE, expected="boolean")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, str) and not value.strip():
        raise rule_error(ErrorCode.REQUIRED)
    # bool is an int in Python; JSON true is never a number here.
    if not isinstance(value, int) or isinstance(value, bool):
        raise rule_error(ErrorCode.INVALID_TYPE, expected="integer")
    return value


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise rule_error(ErrorCode.INVALID_LANGUAGE, after_shape=True)
    return value


def normalize_fin(value: str) -> str:
    """The FIN as intake stores it: trimmed, upper case."""
    return value.strip().upper()


Text = Annotated[str, BeforeValidator(_text)]
"""Any string, blank included."""
MaybeText = Annotated[str | None, BeforeValidator(_maybe_text)]
"""A string, blank included, or nothing."""
RequiredText = Annotated[str, BeforeValidator(_required_text), Field(min_length=1)]
"""A string that is not blank, kept as sent."""
Trimmed = Annotated[str, BeforeValidator(_required_text), AfterValidator(str.strip)]
"""A string that is not blank, without surrounding spaces."""
Fin = Annotated[
    str,
    BeforeValidator(_required_text),
    AfterValidator(normalize_fin),
    Field(description="the citizen's personal identification code (FIN), 7 characters"),
]
Flag = Annotated[bool, BeforeValidator(_flag)]
WholeNumber = Annotated[int, BeforeValidator(_whole)]
Language = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_language),
    Field(description="az (default), en or ru", json_schema_extra={"enum": list(LANGUAGES)}),
]
