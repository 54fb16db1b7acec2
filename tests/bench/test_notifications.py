"""Counting the sinks' e-mails and SMS per (application, step, channel)."""

from __future__ import annotations

import json
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

from bench.notifications import (
    LIFECYCLE_STEPS,
    SinkCounter,
    expected_keys,
    mail_key,
    sms_key,
    tally,
)


def mail(number: str, label: str) -> bytes:
    message = EmailMessage()
    message["Subject"] = f"Müraciət {number}: {label}"
    message["To"] = "citizen@example.az"
    message.set_content("Müraciətiniz qeydiyyata alındı.")
    return message.as_bytes()


def sms(number: str, event: str) -> str:
    return json.dumps({"to": "+994501234567", "reference": f"{number}:{event}:sms"}) + "\n"


def test_the_lifecycle_steps_are_those_the_citizen_hears_of() -> None:
    assert LIFECYCLE_STEPS == (
        "application.registered",
        "application.forwarded",
        "application.completed",
    )


def test_an_email_is_keyed_by_the_number_and_status_label_of_its_subject() -> None:
    assert mail_key(mail("SQ-2026-000007", "İcraya yönləndirildi")) == (
        "SQ-2026-000007",
        "application.forwarded",
        "email",
    )
    assert mail_key(mail("SQ-2026-000007", "İcra edilmədi"))[1] == "application.rejected"  # type: ignore[index]


def test_an_email_whose_headers_are_still_being_written_is_not_counted_yet() -> None:
    whole = mail("SQ-2026-000007", "İcra edildi")
    assert mail_key(whole[: whole.index(b"To:")]) is None
    assert mail_key(mail("SQ-2026-000007", "a label no status has")) is None


def test_an_sms_is_keyed_by_its_gateway_reference() -> None:
    assert sms_key(sms("SQ-2026-000001", "application.registered")) == (
        "SQ-2026-000001",
        "application.registered",
        "sms",
    )
    assert sms_key('{"reference": null}') is None
    assert sms_key("not json") is None


def test_the_counter_reads_only_what_arrived_since_last_time(tmp_path: Path) -> None:
    mail_dir, sms_dir = tmp_path / "mail", tmp_path / "sms"
    mail_dir.mkdir()
    sms_dir.mkdir()
    counter = SinkCounter(mail_dir, sms_dir)
    (mail_dir / "a.eml").write_bytes(mail("SQ-2026-000001", "Qeydiyyata alındı"))
    (mail_dir / "a.txt").write_text("the readable copy is not counted")
    lines = sms_dir / "sms.jsonl"
    half = sms("SQ-2026-000001", "application.forwarded")
    lines.write_text(sms("SQ-2026-000001", "application.registered") + half[:20])
    assert counter.refresh() == 2  # the half-written line waits for its end
    with lines.open("a") as more:
        more.write(half[20:])
    (mail_dir / "b.eml").write_bytes(mail("SQ-2026-000001", "Qeydiyyata alındı"))
    whole = mail("SQ-2026-000001", "İcraya yönləndirildi")
    (mail_dir / "c.eml").write_bytes(whole[: whole.index(b"To:")])  # still being written
    assert counter.refresh() == 4
    assert counter.counts[("SQ-2026-000001", "application.registered", "email")] == 2
    assert counter.counts[("SQ-2026-000001", "application.forwarded", "sms")] == 1
    (mail_dir / "c.eml").write_bytes(whole)
    assert counter.refresh() == 5  # looked at again once it is whole, counted once
    assert counter.refresh() == 5
    assert counter.counts[("SQ-2026-000001", "application.forwarded", "email")] == 1


def test_the_tally_names_lost_duplicated_and_unexpected_notifications() -> None:
    expected = expected_keys(["SQ-2026-000001"])
    counts = Counter(dict.fromkeys(expected, 1))
    assert tally(counts, expected).ok
    counts[("SQ-2026-000001", "application.forwarded", "sms")] = 0
    counts[("SQ-2026-000001", "application.completed", "email")] = 3
    counts[("SQ-2026-000002", "application.registered", "sms")] = 1
    result = tally(counts, expected)
    assert not result.ok
    assert result.as_dict()["lost"] == 1
    assert result.as_dict()["duplicated"] == 2
    assert result.as_dict()["unexpected"] == 1
    assert result.expected == 6
