"""Counting what the development sinks received, per (application, step, channel).

The mail sink writes each e-mail as ``<name>.eml``; its subject is the contract's
"Müraciət <number>: <status label>" (docs/reference/notifications.md). The SMS sink appends one JSON
line per SMS to ``sms.jsonl``; its ``reference`` is "<number>:<event>:sms". Both are read
incrementally, so counting while a run goes on costs only what arrived since last time.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

from shared.contracts.catalogue import STATUS_LABELS
from shared.contracts.events import EVENT_MODELS

Key = tuple[str, str, str]  # (application number, event routing key, channel)

_SUBJECT = re.compile(r"(SQ-\d{4}-\d{6}): (.+)$")  # "Müraciət <number>: <label>" in az
# Every language's label of a status, to the routing key of the event that gives it.
_LABEL_EVENTS = {
    label: f"application.{status.value}"
    for status, labels in STATUS_LABELS.items()
    for label in labels.values()
}
# The steps a citizen hears of on the way from submission to completion.
LIFECYCLE_STEPS = tuple(
    model.routing_key
    for model in EVENT_MODELS
    if model.notifies_citizen
    and model.routing_key
    in {"application.registered", "application.forwarded", "application.completed"}
)
CHANNELS = ("email", "sms")


def mail_key(raw: bytes) -> Key | None:
    """The key of a whole e-mail, or None while its headers are not all written yet."""
    if b"\r\n\r\n" not in raw and b"\n\n" not in raw:
        return None
    message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    match = _SUBJECT.search(str(message.get("Subject", "")).strip())
    if match is None or match.group(2) not in _LABEL_EVENTS:
        return None
    return match.group(1), _LABEL_EVENTS[match.group(2)], "email"


def sms_key(line: str) -> Key | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    number, _, rest = str(record.get("reference") or "").partition(":")
    event, _, channel = rest.rpartition(":")
    return (number, event, channel) if number and event and channel == "sms" else None


@dataclass
class SinkCounter:
    """What the two sinks have received so far; ``refresh`` reads only what is new."""

    mail_dir: Path
    sms_dir: Path
    counts: Counter[Key] = field(default_factory=Counter)
    unreadable: int = 0
    _mail_seen: set[str] = field(default_factory=set)
    _sms_offset: int = 0

    def refresh(self) -> int:
        """Reads what arrived since the last call; returns the total count."""
        if self.mail_dir.is_dir():
            # The names not looked at yet, by set difference: the directory holds every
            # e-mail of the run (and its readable copy and act), read at every refresh.
            for name in set(os.listdir(self.mail_dir)).difference(self._mail_seen):
                if not name.endswith(".eml"):
                    self._mail_seen.add(name)
                    continue
                key = mail_key((self.mail_dir / name).read_bytes())
                if key is not None:  # else still being written: looked at again next time
                    self._mail_seen.add(name)
                    self.counts[key] += 1
        path = self.sms_dir / "sms.jsonl"
        if path.is_file():
            with path.open("rb") as lines:
                lines.seek(self._sms_offset)
                data = lines.read()
            complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
            self._sms_offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                key = sms_key(line)
                if key is None:
                    self.unreadable += 1
                else:
                    self.counts[key] += 1
        return sum(self.counts.values())


@dataclass(frozen=True)
class Tally:
    expected: int
    received: int
    lost: list[Key]
    duplicated: dict[Key, int]  # key -> copies beyond the first
    unexpected: dict[Key, int]  # steps or applications no notification was due for

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected)

    def as_dict(self) -> dict[str, object]:
        return {
            "expected": self.expected,
            "received": self.received,
            "lost": len(self.lost),
            "duplicated": sum(self.duplicated.values()),
            "unexpected": sum(self.unexpected.values()),
            "examples": {
                "lost": [":".join(key) for key in self.lost[:5]],
                "duplicated": [":".join(key) for key in list(self.duplicated)[:5]],
                "unexpected": [":".join(key) for key in list(self.unexpected)[:5]],
            },
        }


def expected_keys(numbers: Iterable[str]) -> set[Key]:
    return {
        (number, step, channel)
        for number in numbers
        for step in LIFECYCLE_STEPS
        for channel in CHANNELS
    }


def tally(counts: Counter[Key], expected: set[Key]) -> Tally:
    """Lost: expected and never received. Duplicated: received more than once."""
    return Tally(
        expected=len(expected),
        received=sum(counts.values()),
        lost=sorted(key for key in expected if counts[key] == 0),
        duplicated={key: n - 1 for key, n in counts.items() if key in expected and n > 1},
        unexpected={key: n for key, n in counts.items() if key not in expected},
    )
