"""The two ways the citizen is told: what a provider gets, and how it says it failed.

These are ports (pure data and Protocols). An e-mail or SMS provider is anything with
``async send(message) -> receipt``; another SMS gateway is added by writing one more class
with that method in ``services.notifier.adapters`` (see ``adapters/sms.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DeliveryFailed(Exception):
    """The provider did not take the message. ``permanent``: trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class Attachment:
    """A file the e-mail carries (the act's copy)."""

    filename: str
    content_type: str  # "maintype/subtype"
    data: bytes


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    reference: str  # stable per (application, event): the Message-ID is made from it
    language: str = "az"
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Sms:
    to: str
    text: str
    reference: str  # "<number>:<event>:sms", the gateway's idempotency key


class Mailer(Protocol):
    async def send(self, mail: Mail) -> str | None:
        """Hand the e-mail over; the receipt (its Message-ID), or ``DeliveryFailed``."""
        ...


class SmsGateway(Protocol):
    async def send(self, sms: Sms) -> str | None:
        """Hand the SMS over; the gateway's id if it gave one, or ``DeliveryFailed``."""
        ...
