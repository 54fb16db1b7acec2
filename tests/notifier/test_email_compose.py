"""The e-mail's MIME message: the classic builder used for ASCII addresses and the
``EmailMessage`` one used for others give the same message once parsed."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import normalize_message_line_endings

from services.notifier.adapters.email import SmtpMailer
from services.notifier.domain.providers import Attachment, Mail

TEXT = "Hörmətli abonent, müraciətiniz SQ-2026-000123 icra olundu. " * 8
HTML = f'<html lang="az"><body><p>{TEXT}</p><p>=_ -- = 100%</p></body></html>'
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def mail(*attachments: Attachment, subject: str = "Müraciət SQ-2026-000123: İcra olundu") -> Mail:
    return Mail(
        "citizen@example.az",
        subject,
        TEXT,
        HTML,
        "SQ-2026-000123:application.completed:email.2026-11-27T10:00:00.000Z",
        "az",
        attachments,
    )


def parsed(message: Any, utf8: bool = False) -> dict[str, Any]:
    """What a reader sees: headers decoded, the parts' types, texts and bytes (the SMTP
    client sends every line ending as CRLF, whichever the generator wrote)."""
    wire = normalize_message_line_endings(flatten_message(message, utf8=utf8))
    received = message_from_bytes(wire, policy=policy.default)
    parts = [
        (
            part.get_content_type(),
            part.get_filename(),
            None if part.is_multipart() else part.get_content(),
        )
        for part in received.walk()
    ]
    headers = ("From", "To", "Subject", "Message-ID", "Content-Language", "Auto-Submitted")
    return {"headers": {name: str(received[name]) for name in headers}, "parts": parts}


MAILER = SmtpMailer(host="127.0.0.1", port=25, sender="bildiris@su.example.az")


@pytest.mark.parametrize(
    "attachments",
    [
        (),
        (Attachment("Akt-SQ-2026-000123.pdf", "application/pdf", PDF),),
        (Attachment("Akt SQ-2026-000123 — surət.pdf", "application/pdf", PDF),),
    ],
)
def test_the_ascii_builder_makes_the_message_the_general_one_makes(
    attachments: tuple[Attachment, ...],
) -> None:
    fast = MAILER._compose_ascii(mail(*attachments), "citizen@example.az")
    general = MAILER._compose_any(mail(*attachments), "citizen@example.az")
    assert not isinstance(fast, EmailMessage)
    assert parsed(fast) == parsed(general)
    seen = parsed(fast)
    assert seen["headers"]["Content-Language"] == "az"
    assert seen["headers"]["Subject"] == "Müraciət SQ-2026-000123: İcra olundu"
    kinds = [kind for kind, _, _ in seen["parts"]]
    expected = ["multipart/alternative", "text/plain", "text/html"]
    if attachments:
        expected = ["multipart/mixed", *expected, "application/pdf"]
        assert seen["parts"][-1][1:] == (attachments[0].filename, PDF)
    assert kinds == expected
    assert seen["parts"][kinds.index("text/plain")][2].rstrip("\r\n") == TEXT


def test_the_builder_is_chosen_by_the_addresses() -> None:
    assert not isinstance(MAILER.compose(mail(), "citizen@example.az"), EmailMessage)
    other = MAILER.compose(mail(), "vətəndaş@example.az")
    assert isinstance(other, EmailMessage)
    assert parsed(other, utf8=True)["headers"]["To"] == "vətəndaş@example.az"
    assert parsed(other, utf8=True)["headers"]["Content-Language"] == "az"


def test_an_ascii_subject_stays_as_it_is() -> None:
    message = MAILER._compose_ascii(mail(subject="Application SQ-1"), "citizen@example.az")
    assert message["Subject"] == "Application SQ-1"
