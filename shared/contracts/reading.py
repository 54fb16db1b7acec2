"""Reading wire bodies: bytes → JSON object → a typed command or event, or why not.

``decode_body`` reads a body as a JSON object within limits (size is checked by the
consumer, depth and integer length here), so no body can exhaust the consumer.
``read_command`` validates a command against its model and maps pydantic's errors to the
contract's codes: ``required``, ``invalid_type`` (with the expected JSON type),
``unknown_field``, and each rule's own code, every one with its field path and a message in
the sender's language, ordered as the contract reports them: unknown fields, then missing
or mistyped fields in field order, then value rules, then rules across fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from shared.contracts.commands import Command, ContractRules
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.events import EVENTS, DomainEvent
from shared.contracts.fields import RULE_STAGE

C = TypeVar("C", bound=Command)

MAX_DEPTH = 32  # nesting of objects and arrays in a body
MAX_NUMBER_DIGITS = 30  # digits of one JSON number
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_EXPECTED = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "integer",
    "int_parsing": "integer",
    "float_type": "number",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}
_SHAPE_CODES = (ErrorCode.REQUIRED, ErrorCode.INVALID_TYPE)


class MalformedMessage(Exception):
    """The body cannot be read as the expected message: answered and parked."""


def decode_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``MalformedMessage`` saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"body is not UTF-8 ({exc.reason})") from None
    depth = _depth(text)
    if depth > MAX_DEPTH:
        raise MalformedMessage(f"body is nested {depth} levels deep (at most {MAX_DEPTH})")
    try:
        value = json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"body is not JSON ({exc.msg} at {exc.pos})") from None
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage(f"body is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise MalformedMessage(f"body must be a JSON object, got {type(value).__name__}")
    return value


def _depth(text: str) -> int:
    deepest = level = 0
    for match in _BRACKETS.finditer(_STRINGS.sub('""', text)):
        level += 1 if match.group() in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _bounded_int(digits: str) -> int | float:
    # Python's int() is quadratic in the digits (and refuses more than 4300): a longer
    # integer becomes a float, a value no whole-number field of the contract accepts.
    return int(digits) if len(digits) <= MAX_NUMBER_DIGITS else float(digits)


@dataclass(frozen=True)
class Refusal:
    """A command that broke rules: every broken rule, and the language to say it in.

    ``text`` gives the fields that did arrive as non-blank strings, for the rules that a
    service checks against its own data even when other fields are wrong.
    """

    errors: list[FieldError]
    language: str
    _body: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def text(self, name: str) -> str | None:
        value = self._body.get(name)
        return value if isinstance(value, str) and value.strip() else None


def read_command(model: type[C], body: Mapping[str, Any]) -> C | Refusal:
    """The command ``body`` carries, or the refusal listing every broken rule."""
    language = model.message_language(dict(body))
    # null is absence: a known field sent as null is missing (required) or defaulted.
    present = {
        name: value
        for name, value in body.items()
        if not (value is None and name in model.model_fields)
    }
    try:
        return model.model_validate(present)
    except ContractRules as broken:
        return Refusal(broken.errors, language, body)
    except ValidationError as exc:
        return Refusal(_field_errors(model, exc, language), language, body)


def _field_errors(model: type[Command], exc: ValidationError, language: str) -> list[FieldError]:
    fields = list(model.model_fields)
    ordered: list[tuple[tuple[int, int, int], FieldError]] = []
    for position, error in enumerate(exc.errors()):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        context = dict(error.get("ctx") or {})
        rule = bool(context.pop(RULE_STAGE, False))
        kind = error["type"]
        if kind == "extra_forbidden":
            code, stage = ErrorCode.UNKNOWN_FIELD, 0
        elif kind == "missing":
            code, stage = ErrorCode.REQUIRED, 1
        elif kind in ErrorCode.__members__.values():
            code = ErrorCode(kind)
            stage = 2 if rule or code not in _SHAPE_CODES else 1
        else:
            code, stage = ErrorCode.INVALID_TYPE, 1
            context = {"expected": _EXPECTED.get(kind, "a valid value")}
        top = name.split(".", 1)[0]
        index = fields.index(top) if top in fields else len(fields)
        if stage == 2 and top in model.rule_order:
            index = model.rule_order.index(top) - len(model.rule_order)
        values = {key: str(value) for key, value in context.items()}
        ordered.append(((stage, index, position), field_error(name, code, language, **values)))
    return [error for _, error in sorted(ordered, key=lambda item: item[0])]


def read_event(routing_key: str, body: Mapping[str, Any]) -> DomainEvent | None:
    """The event ``body`` carries; None for a routing key the registry does not know."""
    model = EVENTS.get(routing_key)
    if model is None:
        return None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {error['msg']}"
            for error in exc.errors()
        )
        raise MalformedMessage(f"not a valid {model.__name__}: {problems}") from None


def malformed_refusal(detail: str) -> list[FieldError]:
    """The one refusal every command gets when its body cannot be read at all."""
    return [field_error("body", ErrorCode.MALFORMED_MESSAGE, "az", detail=detail)]
