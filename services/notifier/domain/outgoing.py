"""What one job sends: the e-mail or the SMS, in the applicant's language (pure)."""

from __future__ import annotations

from services.notifier.domain.jobs import Job
from services.notifier.domain.providers import Mail, Sms
from services.notifier.domain.steps import Contact
from services.notifier.domain.texts import render, sms_text


def mail_for(job: Job, contact: Contact) -> Mail:
    """The e-mail of an ``email`` job; its reference (and so its Message-ID) is stable."""
    notice = render(job.event, job.application_number, job.details, contact.language)
    reference = f"{job.id}.{job.created_at}"
    return Mail(
        contact.email, notice.subject, notice.text, notice.html, reference, contact.language
    )


def sms_for(job: Job, contact: Contact) -> Sms:
    """The SMS of an ``sms`` job; its reference is the gateway's idempotency key."""
    number, event = job.application_number, job.event
    text = sms_text(event, number, job.details, contact.language)
    return Sms(contact.phone, text, f"{number}:{event}:sms")
