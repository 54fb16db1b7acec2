"""What one job sends: the e-mail (with the act's copy, when it has one) or the SMS, in the
applicant's language (pure: the copy's PDF is rendered by the caller, off the event loop)."""

from __future__ import annotations

from collections.abc import Sequence

from services.notifier.domain.jobs import Job
from services.notifier.domain.providers import Attachment, Mail, Sms
from services.notifier.domain.steps import ACT, Contact
from services.notifier.domain.texts import render, sms_text
from shared.contracts.commands import Act
from shared.documents import ActCopy

PDF = "application/pdf"


def act_copy(job: Job, contact: Contact) -> ActCopy | None:
    """The act's copy the e-mail of ``job`` carries: an installed completion's (its step
    keeps the act only then, and only for the e-mail), with the registration's subscriber
    code and address; None for every other job."""
    facts = job.details.get(ACT)
    if job.channel != "email" or facts is None:
        return None
    act = Act.model_validate_json(facts)
    return ActCopy(job.application_number, contact.subscriber_code, contact.address, act)


def mail_for(job: Job, contact: Contact, attachments: Sequence[Attachment] = ()) -> Mail:
    """The e-mail of an ``email`` job; its reference (and so its Message-ID) is stable.

    Its text names each attachment, so the citizen knows the copy is there."""
    names = [attachment.filename for attachment in attachments]
    notice = render(job.event, job.application_number, job.details, contact.language, names)
    reference = f"{job.id}.{job.created_at}"
    return Mail(
        contact.email,
        notice.subject,
        notice.text,
        notice.html,
        reference,
        contact.language,
        tuple(attachments),
    )


def pdf_attachment(copy: ActCopy, data: bytes) -> Attachment:
    return Attachment(copy.filename, PDF, data)


def sms_for(job: Job, contact: Contact) -> Sms:
    """The SMS of an ``sms`` job; its reference is the gateway's idempotency key."""
    number, event = job.application_number, job.event
    text = sms_text(event, number, job.details, contact.language)
    return Sms(contact.phone, text, f"{number}:{event}:sms")
