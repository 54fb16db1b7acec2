"""What the sinks received, read incrementally: one ``Sent`` per e-mail or SMS.

The mail sink writes each e-mail as ``<name>.eml``; the SMS sink appends a JSON line to
``sms.jsonl``. Each message is tied to its application by its recipient (every applicant
has an e-mail address and a phone of their own) and to its step by its Message-ID or
gateway reference (``<number>:<event>:...``), else by its subject's status label. Its
identity (Message-ID, reference) tells a resend of one notification (same identity) from
a second notification of the same step (another identity); both are effects twice.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

STEPS = ("application.registered", "application.forwarded", "application.completed")
_LABELS = {
    "Qeydiyyata alındı": "application.registered",
    "İcraya yönləndirildi": "application.forwarded",
    "İcra edildi": "application.completed",
    "İcra edilmədi": "application.rejected",
}
_EVENT = re.compile(r"application\.[a-z_]+")


@dataclass(frozen=True)
class Sent:
    channel: str  # "email" or "sms"
    recipient: str  # the e-mail address (lower case) or the phone number
    step: str  # the routing key of the step, or "unknown"
    identity: str  # Message-ID or gateway reference


def step_of(identity: str, subject: str = "") -> str:
    found = _EVENT.search(identity)
    if found:
        return found.group(0)
    label = subject.rpartition(": ")[2].strip()
    return _LABELS.get(label, "unknown")


def parse_mail(raw: bytes) -> Sent:
    headers = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    identity = str(headers.get("Message-ID") or "").strip()
    addresses = getaddresses([str(headers.get("To") or "")])
    recipient = addresses[0][1].lower() if addresses else ""
    return Sent("email", recipient, step_of(identity, str(headers.get("Subject") or "")), identity)


def parse_sms(line: str) -> Sent | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    reference = str(record.get("reference") or "")
    return Sent("sms", str(record.get("to") or ""), step_of(reference), reference)


@dataclass
class MailIndex:
    directory: Path
    sent: list[Sent] = field(default_factory=list)
    _read: set[str] = field(default_factory=set)

    def refresh(self) -> list[Sent]:
        if not self.directory.is_dir():
            return self.sent
        names = {entry.name for entry in os.scandir(self.directory)}
        for name in sorted(names - self._read):
            stem, dot, kind = name.rpartition(".")
            # The sink writes <name>.eml, then <name>.txt: an e-mail whose .txt is there is
            # whole (one read while it is being written would be counted wrong for good).
            if dot and kind == "eml" and f"{stem}.txt" in names:
                self._read.add(name)
                self.sent.append(parse_mail((self.directory / name).read_bytes()))
        return self.sent


@dataclass
class SmsIndex:
    path: Path
    sent: list[Sent] = field(default_factory=list)
    _offset: int = 0

    def refresh(self) -> list[Sent]:
        if not self.path.is_file():
            return self.sent
        with self.path.open("rb") as lines:
            lines.seek(self._offset)
            data = lines.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line being written waits for next time
        self._offset += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            if (found := parse_sms(line)) is not None:
                self.sent.append(found)
        return self.sent


Tally = dict[tuple[str, str], list[str]]  # (recipient, step) -> identities received


def tally(sent: list[Sent]) -> Tally:
    found: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for item in sent:
        found[(item.recipient, item.step)].append(item.identity)
    return dict(found)


@dataclass(frozen=True)
class Effects:
    """One channel's notifications beyond the first per (recipient, step)."""

    twice: int  # every notification after the first of its (recipient, step)
    resent: int  # of those, repeats of the same identity (one notification sent again)

    @staticmethod
    def of(counted: Tally, recipients: set[str]) -> Effects:
        twice = resent = 0
        for (recipient, _step), identities in counted.items():
            if recipient in recipients and len(identities) > 1:
                twice += len(identities) - 1
                resent += len(identities) - len(set(identities))
        return Effects(twice, resent)


def missing(counted: Tally, recipient: str) -> list[str]:
    """The steps of ``STEPS`` of which ``recipient`` has no notification."""
    return [step for step in STEPS if not counted.get((recipient, step))]
