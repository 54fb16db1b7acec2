"""Reading what the sinks received: each e-mail and SMS tied to its applicant and step."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

from faults.ledger import Effects, MailIndex, SmsIndex, missing, parse_mail, step_of, tally


def mail(to: str, message_id: str, subject: str = "Müraciət SQ-2026-000001: İcra edildi") -> bytes:
    message = EmailMessage()
    message["From"] = "no-reply@localhost"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message.set_content("Müraciətiniz icra edildi.")
    return bytes(message)


def test_an_email_is_tied_to_its_recipient_and_to_the_step_its_message_id_names() -> None:
    sent = parse_mail(
        mail(
            "Citizen7@faults.example.az", "<SQ-2026-000001.application.forwarded.email.x@localhost>"
        )
    )
    assert sent.recipient == "citizen7@faults.example.az"
    assert sent.step == "application.forwarded"
    assert sent.identity == "<SQ-2026-000001.application.forwarded.email.x@localhost>"


def test_without_a_step_in_the_message_id_the_subjects_status_label_names_it() -> None:
    assert step_of("<abc@localhost>", "Müraciət SQ-2026-000001: İcra edildi") == (
        "application.completed"
    )
    assert step_of("<abc@localhost>", "Müraciət SQ-2026-000001: Qeydiyyata alındı") == (
        "application.registered"
    )
    assert step_of("<abc@localhost>", "something else") == "unknown"


def test_the_mail_index_reads_each_new_email_once(tmp_path: Path) -> None:
    index = MailIndex(tmp_path)
    (tmp_path / "1.eml").write_bytes(
        mail("a@x.az", "<SQ-2026-000001.application.registered.email>")
    )
    (tmp_path / "1.txt").write_text("the readable copy is not counted")
    assert len(index.refresh()) == 1
    (tmp_path / "2.eml").write_bytes(
        mail("a@x.az", "<SQ-2026-000001.application.registered.email>")
    )
    (tmp_path / "2.txt").write_text("")
    assert len(index.refresh()) == 2
    assert len(index.refresh()) == 2


def test_an_email_still_being_written_is_read_once_it_is_whole(tmp_path: Path) -> None:
    index = MailIndex(tmp_path)
    (tmp_path / "1.eml").write_bytes(b"")  # the sink has opened the file, not written it
    assert index.refresh() == []
    sent = mail("a@x.az", "<SQ-2026-000001.application.forwarded.email>")
    (tmp_path / "1.eml").write_bytes(sent)
    (tmp_path / "1.txt").write_text("the readable copy comes last")
    [found] = index.refresh()
    assert (found.recipient, found.step) == ("a@x.az", "application.forwarded")


def test_the_sms_index_waits_for_a_line_being_written(tmp_path: Path) -> None:
    path = tmp_path / "sms.jsonl"
    first = {"to": "+994502000001", "reference": "SQ-2026-000001:application.registered:sms"}
    path.write_text(json.dumps(first) + "\n" + '{"to": "+9945020', encoding="utf-8")
    index = SmsIndex(path)
    [sent] = index.refresh()
    assert (sent.recipient, sent.step) == ("+994502000001", "application.registered")
    second = {"to": "+994502000002", "reference": "SQ-2026-000002:application.completed:sms"}
    path.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    assert [s.recipient for s in index.refresh()] == ["+994502000001", "+994502000002"]


def test_a_resend_and_a_second_notification_both_count_as_twice_and_only_a_resend_as_resent() -> (
    None
):
    counted = tally(
        [
            parse_mail(mail("a@x.az", "<SQ-1.application.registered.email.1>")),
            parse_mail(mail("a@x.az", "<SQ-1.application.registered.email.1>")),  # resent
            parse_mail(mail("a@x.az", "<SQ-1.application.registered.email.2>")),  # a second job
            parse_mail(mail("b@x.az", "<SQ-2.application.registered.email.1>")),
        ]
    )
    effects = Effects.of(counted, {"a@x.az", "b@x.az"})
    assert (effects.twice, effects.resent) == (2, 1)
    assert Effects.of(counted, {"b@x.az"}).twice == 0


def test_missing_names_every_step_a_recipient_has_no_notification_of() -> None:
    counted = tally([parse_mail(mail("a@x.az", "<SQ-1.application.registered.email.1>"))])
    assert missing(counted, "a@x.az") == ["application.forwarded", "application.completed"]
    assert len(missing(counted, "nobody@x.az")) == 3
