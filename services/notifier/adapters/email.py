"""E-mail over SMTP (aiosmtplib): UTF-8 MIME with plain text and HTML parts (multipart/
alternative; inside multipart/mixed with the attachments, when it has any), sent over
pooled connections (``smtp_pool``) that wait for the end of data as RFC 5321 says.

Messages to ASCII addresses are built with the classic ``email.mime`` classes (about a
third of the CPU of ``EmailMessage``); others with ``EmailMessage``, sent over SMTPUTF8.
Both give the same message (``tests/notifier/test_email_compose.py``)."""

from __future__ import annotations

import hashlib
import re
from email import charset as charsets
from email import encoders
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, parseaddr

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from services.notifier.adapters.smtp_pool import PatientSMTP, PoolExhausted, SmtpPool
from services.notifier.domain.providers import DeliveryFailed, Mail
from shared.clock import utc_now

_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")
# Bodies as UTF-8 quoted-printable, as ``EmailMessage.set_content`` writes them.
_UTF8_QP = charsets.Charset("utf-8")
_UTF8_QP.body_encoding = charsets.QP


class _Verbatim:
    """A header value the classic generator writes as it is, unfolded: a long Message-ID
    has no whitespace to fold at, and would otherwise start on a line of its own."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __str__(self) -> str:
        return self.value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        return self.value


class SmtpMailer:
    """Sends through one SMTP server; refusals of the recipient are permanent failures.

    Every command waits ``timeout`` seconds, the reply to the end of data ``data_timeout``
    (RFC 5321: 10 minutes); at most ``pool_size`` connections are open, kept for reuse.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        timeout: float = 15.0,
        data_timeout: float = 600.0,
        pool_size: int = 4,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.data_timeout = data_timeout
        self.domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        self.pool = SmtpPool(self._connect, size=pool_size, acquire_timeout=timeout)

    async def _connect(self) -> PatientSMTP:
        connection = PatientSMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            start_tls=self.starttls,
            timeout=self.timeout,
            data_timeout=self.data_timeout,
        )
        await connection.connect()
        return connection

    async def aclose(self) -> None:
        await self.pool.aclose()

    def compose(self, mail: Mail, to: str) -> Message:
        """The MIME message; the same structure and headers either way. Where every address
        is ASCII it is built with the classic ``email.mime`` classes, several times cheaper
        than ``EmailMessage`` (whose headers are parsed as they are set); an address with
        other letters needs ``EmailMessage``, which the SMTP client sends over SMTPUTF8."""
        if to.isascii() and self.sender.isascii():
            return self._compose_ascii(mail, to)
        return self._compose_any(mail, to)

    def _compose_ascii(self, mail: Mail, to: str) -> Message:
        # Boundaries from the reference (the same each attempt): "=_" never occurs in a
        # quoted-printable or base64 body, so no part can contain one.
        boundary = "=_" + hashlib.sha256(mail.reference.encode()).hexdigest()[:40]
        alternative = MIMEMultipart("alternative", boundary=boundary + ".a")
        part: Message
        for body, subtype in ((mail.text, "plain"), (mail.html, "html")):
            part = MIMENonMultipart("text", subtype, charset="utf-8")
            del part["MIME-Version"]
            # Ending in a line break, as ``set_content`` ends a text.
            part.set_payload(body if body.endswith("\n") else body + "\n", _UTF8_QP)
            alternative.attach(part)
        message: Message = alternative
        if mail.attachments:
            message = MIMEMultipart("mixed", boundary=boundary + ".m")
            del alternative["MIME-Version"]
            message.attach(alternative)
            for attachment in mail.attachments:
                maintype, _, subtype = attachment.content_type.partition("/")
                part = MIMEBase(maintype, subtype)
                del part["MIME-Version"]
                part.set_payload(attachment.data)
                encoders.encode_base64(part)
                name = attachment.filename
                filename = name if name.isascii() else ("utf-8", "", name)
                part.add_header("Content-Disposition", "attachment", filename=filename)
                message.attach(part)
        message["From"] = self.sender
        message["To"] = to
        if mail.subject.isascii():
            message["Subject"] = mail.subject
        else:  # RFC 2047 encoded words
            message["Subject"] = Header(mail.subject, "utf-8")  # type: ignore[assignment]
        message["Date"] = format_datetime(utc_now())
        message["Message-ID"] = _Verbatim(self._message_id(mail))  # type: ignore[assignment]
        message["Content-Language"] = mail.language
        message["Auto-Submitted"] = "auto-generated"
        return message

    def _message_id(self, mail: Mail) -> str:
        # Stable per (application, event): a resend after a crash is recognisably the same.
        return f"<{_NOT_ATEXT.sub('.', mail.reference)}@{self.domain}>"

    def _compose_any(self, mail: Mail, to: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(utc_now())
        message["Message-ID"] = self._message_id(mail)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text, charset="utf-8", cte="quoted-printable")
        message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
        for attachment in mail.attachments:
            # The alternative becomes the first part of a multipart/mixed; the file follows
            # base64-encoded, as an attachment with its name.
            maintype, _, subtype = attachment.content_type.partition("/")
            message.add_attachment(
                attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
            )
        message["Content-Language"] = mail.language  # after the content: it clears Content-*
        return message

    async def send(self, mail: Mail) -> str | None:
        try:
            to = validate_email(mail.to, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise DeliveryFailed(f"invalid e-mail address: {exc}", permanent=True) from exc
        message = self.compose(mail, to)
        try:
            await self.pool.send(message)
        except PoolExhausted as exc:
            raise DeliveryFailed(str(exc), permanent=False) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refusal.code for refusal in exc.recipients]
            reasons = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(
                f"recipient refused: {reasons}", permanent=all(code >= 500 for code in codes)
            ) from exc
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            raise DeliveryFailed(
                f"refused: {exc.code} {exc.message}", permanent=exc.code >= 500
            ) from exc
        except aiosmtplib.SMTPNotSupported as exc:
            # An address with non-ASCII letters needs SMTPUTF8: this server will never take it.
            raise DeliveryFailed(f"not supported: {exc}", permanent=not to.isascii()) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Unreachable, timed out, or our own login/sender refused: worth trying again.
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        return str(message["Message-ID"])
