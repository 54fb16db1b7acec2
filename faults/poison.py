"""The bodies of issue 11 that once stopped a consumer, and where the suite sends them.

Commands go with a ``reply_to`` (each should be answered, ``malformed_message`` or
``message_too_large``, or for a harmless header just answered); events go to
``meter.events``, reaching every service's event queue, where they should be parked.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from faults.amqp import Link, NoAnswer

TEN_MB = 10 * 1024 * 1024
COMMAND_TARGETS = {
    "intake.submit_application": "SubmitApplication",
    "status.get_application": "GetApplication",
    "dispatcher.report_outcome": "ReportOutcome",
}
EVENT_TARGETS = ("application.registered", "application.completed")


@dataclass(frozen=True)
class Poison:
    name: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def bodies(big: bool = True) -> list[Poison]:
    """Each poison of issue 11; ``big`` adds the 10 MB body."""
    digits = "7" * 5000
    huge_numbers = f'{{"applicant_fin": {digits}, "sequence": {digits}}}'.encode()
    query = {"applicant_fin": "9ZZ0000", "application_number": "SQ-2026-999999"}
    found = [
        Poison("nesting 100,000 deep", nested(100_000)),
        Poison("nesting 30,000 deep (under the size limit)", nested(30_000)),
        Poison("5,000-digit integer", huge_numbers),
        Poison(
            'header x-delivery-count "abc"',
            json.dumps(query).encode(),
            {"x-delivery-count": "abc", "x-meter-failures": "abc", "x-death": "abc"},
        ),
        Poison("invalid UTF-8", b'{"applicant_fin": "\xff\xfe\xfd", "notes": "\xc3\x28"}'),
    ]
    if big:
        found.append(Poison("10 MB body", b'{"notes": "' + b"x" * TEN_MB + b'"}'))
    return found


@dataclass
class Poisoner:
    """Sends the poison and counts how each command was answered."""

    link: Link
    answers: Counter[str] = field(default_factory=Counter)
    sent: int = 0

    async def command(self, routing_key: str, poison: Poison) -> None:
        message = self.link.message(
            poison.body,
            message_type=COMMAND_TARGETS[routing_key],
            message_id=str(uuid.uuid4()),
            correlation_id=str(uuid.uuid4()),
            headers=poison.headers or None,
        )
        self.sent += 1
        try:
            answer = await self.link.request(routing_key, message, 30.0)
            self.answers[f"{poison.name} -> {answer.summary()}"] += 1
        except NoAnswer as exc:
            self.answers[f"{poison.name} -> no answer ({exc})"] += 1

    async def event(self, routing_key: str, poison: Poison) -> None:
        message = self.link.message(
            poison.body,
            message_type=routing_key,
            message_id=str(uuid.uuid4()),
            correlation_id=str(uuid.uuid4()),
            headers=poison.headers or None,
        )
        self.sent += 1
        try:
            await self.link.publish("meter.events", routing_key, message)
        except NoAnswer as exc:
            self.answers[f"{poison.name} on {routing_key} -> not published ({exc})"] += 1

    async def round(self, big: bool) -> None:
        for poison in bodies(big):
            for routing_key in COMMAND_TARGETS:
                await self.command(routing_key, poison)
            for routing_key in EVENT_TARGETS:
                await self.event(routing_key, poison)
