"""E-mail over SMTP (aiosmtplib): UTF-8 MIME with plain text and HTML parts (multipart/
alternative; inside multipart/mixed with the attachments, when it has any), sent over
pooled connections (``smtp_pool``) that wait for the end of data as RFC 5321 says."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from services.notifier.adapters.smtp_pool import PatientSMTP, PoolExhausted, SmtpPool
from services.notifier.domain.providers import DeliveryFailed, Mail
from shared.clock import utc_now

_NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]")


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

    def compose(self, mail: Mail, to: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(utc_now())
        # Stable per (application, event): a resend after a crash is recognisably the same.
        message["Message-ID"] = f"<{_NOT_ATEXT.sub('.', mail.reference)}@{self.domain}>"
        message["Content-Language"] = mail.language
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
