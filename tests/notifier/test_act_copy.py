"""The act's copy (docs/integration.md): an installed completion's e-mail carries the
installation act as a PDF that a reader opens, with every act field, the registration's
subscriber code and address; other e-mails and every SMS carry nothing more. In-process
with fake providers, and the MIME message as the SMTP adapter composes it; over a real SMTP
server in ``test_act_over_smtp``."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from services.notifier.adapters.email import SmtpMailer
from services.notifier.domain.providers import Attachment, Mail
from services.notifier.usecases import notifier as notifier_usecases
from shared.contracts.commands import Act
from shared.documents import ActCopy, render_act
from tests.notifier.conftest import SENDER, completed, registered
from tests.notifier.fakes import FakeProvider
from tests.notifier.inprocess import LocalNotifier

A = "SQ-2026-000701"
ADDRESS = "Bakı ş., Nəsimi r., Şəmsi Bədəlbəyli küç. 12, mənzil 4"
ACT = completed(A)["act"]
FILENAME = "akt-AKT-2026-0042.pdf"


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def mailer() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sms() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def local(mailer: FakeProvider, sms: FakeProvider) -> LocalNotifier:
    return LocalNotifier(mailer, sms)


async def completion_mail(
    local: LocalNotifier, mailer: FakeProvider, outcome: str = "installed", **registration: str
) -> Mail:
    await local.publish("application.registered", registered(A, **registration))
    await local.publish("application.completed", completed(A, outcome))
    await local.run()
    [mail] = [m for m in mailer.mails() if "application.completed" in m.reference]
    return mail


async def test_an_installed_completions_email_carries_the_act_as_a_pdf_a_reader_opens(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    mail = await completion_mail(local, mailer, address=ADDRESS)

    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type) == (FILENAME, "application/pdf")
    text = pdf_text(attachment.data)
    for fact in ("AKT-2026-0042", "WM-77001", "1000001", ADDRESS, A, "Itron Flodis", "S-1"):
        assert fact in text
    assert "Əli Məmmədov" in text
    assert "28.11.2026 11:00" in text  # installed_at, in Baku time
    for letter in "əğıöşüçİ":
        assert letter in text


async def test_the_attached_pdf_is_render_acts_for_the_same_facts(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    mail = await completion_mail(local, mailer, address=ADDRESS)

    expected = render_act(ActCopy(A, "1000001", ADDRESS, Act(**ACT)))
    assert mail.attachments[0].data == expected


async def test_an_unknown_address_shows_a_dash_in_the_copy(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    mail = await completion_mail(local, mailer)  # a registration without an address

    assert "Ünvan —" in pdf_text(mail.attachments[0].data)


@pytest.mark.parametrize(
    ("language", "mention"),
    [
        ("az", f"Quraşdırma aktının nüsxəsi məktuba əlavə edilib: {FILENAME}."),
        ("en", f"A copy of the installation act is attached: {FILENAME}."),
        ("ru", f"Копия акта установки приложена к письму: {FILENAME}."),
    ],
)
async def test_the_email_names_the_attachment_in_the_applicants_language(
    local: LocalNotifier, mailer: FakeProvider, language: str, mention: str
) -> None:
    mail = await completion_mail(local, mailer, language=language)

    assert mention in mail.text
    assert mention in mail.html
    assert mail.attachments[0].data.startswith(b"%PDF-")  # the copy itself is Azerbaijani
    assert "Sayğacın seriya nömrəsi" in pdf_text(mail.attachments[0].data)


async def test_an_existing_meter_completion_has_no_attachment(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    mail = await completion_mail(local, mailer, "existing_meter_registered", address=ADDRESS)

    assert mail.attachments == ()
    assert ".pdf" not in mail.text


async def test_the_sms_of_an_installed_completion_is_unchanged_and_its_job_holds_no_act(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await completion_mail(local, mailer, address=ADDRESS)

    assert sms.texts()[-1] == (
        f"{A} nömrəli müraciətiniz icra edildi. Sayğac: WM-77001, akt: AKT-2026-0042."
    )
    email_job, sms_job = [job for job in local.jobs_of(A) if job.event.endswith("completed")]
    assert "act" in email_job.details
    assert "act" not in sms_job.details


async def test_the_other_steps_emails_carry_nothing(
    local: LocalNotifier, mailer: FakeProvider
) -> None:
    await completion_mail(local, mailer, address=ADDRESS)

    [registration] = [m for m in mailer.mails() if "application.registered" in m.reference]
    assert registration.attachments == ()


async def test_a_copy_that_cannot_be_rendered_is_retried_and_never_sent_without_the_act(
    local: LocalNotifier, mailer: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures = [RuntimeError("font unreadable")]

    def flaky_render(copy: ActCopy) -> bytes:
        if failures:
            raise failures.pop()
        return render_act(copy)

    monkeypatch.setattr(notifier_usecases, "render_act", flaky_render)
    await local.publish("application.registered", registered(A))
    await local.publish("application.completed", completed(A))
    await local.run(until=lambda: not failures)

    [email] = [job for job in local.jobs_of(A) if job.id.endswith("completed:email")]
    assert (email.state, email.attempts) == ("pending", 1)
    assert "font unreadable" in str(email.last_error)
    await local.run()
    [mail] = [m for m in mailer.mails() if "application.completed" in m.reference]
    assert mail.attachments[0].filename == FILENAME
    assert [m.reference for m in mailer.tried].count(mail.reference) == 1


def test_the_smtp_message_is_mixed_the_alternative_first_then_the_pdf_in_base64() -> None:
    mailer = SmtpMailer(host="127.0.0.1", port=25, sender=SENDER)
    data = render_act(ActCopy(A, "1000001", ADDRESS, Act(**ACT)))
    mail = Mail(
        "citizen@example.az",
        "Müraciət: İcra edildi",
        "Mətn",
        "<p>Mətn</p>",
        f"{A}:application.completed:email.2026-11-28T08:00:00.000000Z",
        attachments=(Attachment(FILENAME, "application/pdf", data),),
    )

    message = mailer.compose(mail, "citizen@example.az")

    assert message.get_content_type() == "multipart/mixed"
    alternative, pdf = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in alternative.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert pdf.get_content_type() == "application/pdf"
    assert pdf["Content-Transfer-Encoding"] == "base64"
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_filename() == FILENAME
    assert pdf.get_content() == data
    # The Message-ID still comes from the job's stable reference.
    assert message["Message-ID"] == (
        f"<{A}.application.completed.email.2026-11-28T08.00.00.000000Z@su.example.az>"
    )
