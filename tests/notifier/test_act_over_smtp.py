"""The act's copy over a real SMTP server (aiosmtpd) through the notifier's own adapters:
it arrives intact (the bytes ``render_act`` gives for the same facts) in the MIME shape the
contract gives, and the development mail sink keeps it where a reader of ``var/mail``
finds it. No broker and no database, as ``test_providers``."""

from __future__ import annotations

import dataclasses
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from devtools.sinks import MailSink, serve_smtp
from services.notifier.adapters.email import SmtpMailer
from shared.contracts.commands import Act
from shared.documents import ActCopy, render_act
from tests.notifier.conftest import SENDER, completed, registered
from tests.notifier.fakes import FakeProvider
from tests.notifier.inprocess import POLICY, LocalNotifier, real_providers
from tests.notifier.servers import Gateway, SmtpServer
from tests.support.infra import free_port

A = "SQ-2026-000801"
ADDRESS = "Gəncə ş., Atatürk pr. 15, mənzil 9"
FILENAME = "akt-AKT-2026-0042.pdf"
EXPECTED = render_act(ActCopy(A, "1000001", ADDRESS, Act(**completed(A)["act"])))


def attachments_of(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.iter_attachments() if isinstance(part, EmailMessage)]


async def test_the_act_arrives_intact_as_the_pdf_attachment_of_the_completion_email(
    smtp: SmtpServer, gateway: Gateway
) -> None:
    mailer, sms = real_providers(smtp, gateway)
    local = LocalNotifier(mailer, sms, dataclasses.replace(POLICY))
    await local.publish("application.registered", registered(A, address=ADDRESS))
    await local.publish("application.completed", completed(A))
    await local.wait_for("notification.delivered", 4)

    registration, completion = smtp.received  # in their order: the completion waits its turn
    assert registration.message["Message-ID"].startswith(f"<{A}.application.registered.email.")
    assert attachments_of(registration.message) == []
    message = completion.message
    assert message["Message-ID"].startswith(f"<{A}.application.completed.email.")
    assert message.get_content_type() == "multipart/mixed"
    alternative, _ = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    [pdf] = attachments_of(message)
    assert pdf.get_content_type() == "application/pdf"
    assert pdf["Content-Transfer-Encoding"] == "base64"
    assert pdf.get_filename() == FILENAME
    assert pdf.get_content() == EXPECTED
    assert f"Quraşdırma aktının nüsxəsi məktuba əlavə edilib: {FILENAME}." in completion.text
    # The SMS names the act as before and carries nothing else.
    assert gateway.accepted[-1]["text"] == (
        f"{A} nömrəli müraciətiniz icra edildi. Sayğac: WM-77001, akt: AKT-2026-0042."
    )
    await mailer.aclose()


async def test_the_mail_sink_keeps_the_pdf_next_to_the_eml(tmp_path: Path) -> None:
    port = free_port()
    server = await serve_smtp(MailSink(tmp_path), port)
    mailer = SmtpMailer(host="127.0.0.1", port=port, sender=SENDER, timeout=5.0)
    local = LocalNotifier(mailer, FakeProvider())
    try:
        await local.publish("application.registered", registered(A, address=ADDRESS))
        await local.publish("application.completed", completed(A))
        await local.wait_for("notification.delivered", 4)
    finally:
        await mailer.aclose()
        server.close()
        await server.wait_closed()
    found_where_a_reader_looks(tmp_path)


def found_where_a_reader_looks(directory: Path) -> None:
    [pdf] = sorted(directory.glob("*.pdf"))
    assert pdf.name.endswith(f"-{FILENAME}")
    assert pdf.read_bytes() == EXPECTED
    # Beside the e-mail it came in: the same name before the file's own.
    eml = directory / (pdf.name.removesuffix(f"-{FILENAME}") + ".eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    assert isinstance(message, EmailMessage)
    assert [part.get_content() for part in attachments_of(message)] == [EXPECTED]
    readable = eml.with_suffix(".txt").read_text("utf-8")
    assert "Parts: text/plain, text/html, application/pdf" in readable
    assert f"Files: {pdf.name}" in readable
    assert len(list(directory.glob("*.eml"))) == 2  # the registration's e-mail has no file
