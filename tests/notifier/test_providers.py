"""The real SMTP server (aiosmtpd) and a real HTTP server standing in for the SMS gateway,
reached through the notifier's own adapters and use cases in-process: what goes over the
wire, in the applicant's language, and what each kind of failure becomes. No broker and no
database; delivery through the broker is proven in ``test_delivery`` and ``test_failures``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from services.notifier.adapters.sms import HttpSmsGateway
from services.notifier.domain import smsparts
from services.notifier.domain.jobs import Job
from services.notifier.domain.providers import DeliveryFailed, Sms
from tests.notifier.conftest import (
    SENDER,
    TOKEN,
    completed,
    registered,
    rejected,
)
from tests.notifier.inprocess import POLICY, LocalNotifier, real_providers
from tests.notifier.servers import Gateway, SmtpServer

A, B = "SQ-2026-000101", "SQ-2026-000102"
C, D = "SQ-2026-000201", "SQ-2026-000202"
REGISTERED_AZ = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)
StartLocal = Callable[..., LocalNotifier]


@pytest.fixture
def start_local(smtp: SmtpServer, gateway: Gateway) -> StartLocal:
    """``start_local(**policy)``: the notifier in-process with the real adapters."""

    def start(**policy: Any) -> LocalNotifier:
        mailer, sms = real_providers(smtp, gateway)
        return LocalNotifier(mailer, sms, dataclasses.replace(POLICY, **policy))

    return start


@pytest.fixture
def notifier(start_local: StartLocal) -> LocalNotifier:
    return start_local()


# The broker tests' names for the same parts: events go in, outcomes come out.
@pytest.fixture
def events(notifier: LocalNotifier) -> LocalNotifier:
    return notifier


@pytest.fixture
def outcomes(notifier: LocalNotifier) -> LocalNotifier:
    return notifier


# --- what goes over the wire --------------------------------------------------------------


async def test_the_email_is_utf8_mime_with_text_and_html_and_the_headers_it_needs(
    notifier: LocalNotifier, events: LocalNotifier, outcomes: LocalNotifier, smtp: SmtpServer
) -> None:
    await events.publish("application.registered", registered(A))
    await outcomes.wait_for("notification.delivered", 2)

    [mail] = smtp.received
    message = mail.message
    assert mail.recipients == ["citizen@example.az"]
    assert mail.sender == "bildiris@su.example.az"
    # The subject crossed the wire as ASCII (RFC 2047) and decodes to the same letters.
    raw_headers = mail.raw.split(b"\r\n\r\n", 1)[0]
    raw_headers.decode("ascii")
    assert b"=?utf-8?" in raw_headers
    assert message["Subject"] == f"Müraciət {A}: Qeydiyyata alındı"
    assert message["From"] == SENDER
    assert message["To"] == "citizen@example.az"
    assert message["Message-ID"].startswith(f"<{A}.application.registered.email.")
    assert message["Message-ID"].endswith("@su.example.az>")
    assert parsedate_to_datetime(message["Date"]).tzinfo is not None
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content_charset() == "utf-8"
    assert html.get_content_charset() == "utf-8"
    assert plain.get_content().startswith(REGISTERED_AZ.format(A))
    assert REGISTERED_AZ.format(A) in html.get_content()
    assert '<html lang="az">' in html.get_content()


async def test_an_address_with_azerbaijani_letters_is_delivered_over_smtputf8(
    notifier: LocalNotifier, events: LocalNotifier, outcomes: LocalNotifier, smtp: SmtpServer
) -> None:
    await events.publish("application.registered", registered(A, email="vətəndaş@example.az"))
    await outcomes.wait_for("notification.delivered", 2)

    [mail] = smtp.received
    assert mail.recipients == ["vətəndaş@example.az"]
    assert mail.message["To"] == "vətəndaş@example.az"
    assert mail.subject == f"Müraciət {A}: Qeydiyyata alındı"


async def test_texts_follow_the_applicants_language(
    notifier: LocalNotifier,
    events: LocalNotifier,
    outcomes: LocalNotifier,
    smtp: SmtpServer,
    gateway: Gateway,
) -> None:
    await events.publish("application.registered", registered(A, language="en"))
    await events.publish("application.completed", completed(A, "existing_meter_registered"))
    ru = "+994702223344"
    await events.publish("application.registered", registered(B, language="ru", phone=ru))
    await events.publish("application.rejected", rejected(B, "unsuitable_water_line"))
    await outcomes.wait_for("notification.delivered", 8)

    subjects = sorted(mail.subject for mail in smtp.received)
    assert subjects == sorted(
        [
            f"Application {A}: Registered",
            f"Application {A}: Completed",
            f"Заявка {B}: Зарегистрирована",
            f"Заявка {B}: Не исполнена",
        ]
    )
    assert [body["text"] for body in gateway.to("+994501234567")][1] == (
        f"Your application {A} has been completed. Your existing meter (WM-77001) "
        "has been registered, act: AKT-2026-0042."
    )
    assert [body["text"] for body in gateway.to(ru)][1] == (
        f"Ваша заявка {B} не исполнена. Причина: водопроводная линия не подходит."
    )


async def test_the_sms_follows_the_gateway_contract(
    notifier: LocalNotifier, events: LocalNotifier, outcomes: LocalNotifier, gateway: Gateway
) -> None:
    await events.publish("application.registered", registered(A))
    await outcomes.wait_for("notification.delivered", 2)

    [request] = gateway.requests
    assert request.method == "POST"
    assert request.path == "/messages"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    body = json.loads(request.body.decode("utf-8"))
    assert body == {
        "to": "+994501234567",
        "text": REGISTERED_AZ.format(A),
        "reference": f"{A}:application.registered:sms",
    }
    assert smsparts.encoding(body["text"]) == "ucs2"
    assert smsparts.parts(body["text"]) == 2


async def test_the_receipts_of_the_providers_are_kept_with_the_jobs(
    notifier: LocalNotifier, events: LocalNotifier, outcomes: LocalNotifier
) -> None:
    await events.publish("application.registered", registered(A))
    await outcomes.wait_for("notification.delivered", 2)

    email, sms = notifier.jobs_of(A)
    assert str(email.receipt).startswith(f"<{A}.application.registered.email.")
    assert sms.receipt == "gw-1"


# --- what failures become -------------------------------------------------------------------


def state_of(found: list[Job], channel: str) -> Job | None:
    return next((job for job in found if job.channel == channel), None)


def pause_of(job: Job) -> float:
    """The pause the sender chose after the job's last failure, from its stored times."""

    def at(text: str | None) -> datetime:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))

    return (at(job.next_attempt_at) - at(job.updated_at)).total_seconds()


def pending_after_more_than(notifier: LocalNotifier, attempts: int) -> Callable[[], bool]:
    def ready() -> bool:
        job = state_of(notifier.jobs_of(C), "sms")
        return job is not None and job.state == "pending" and job.attempts > attempts

    return ready


async def test_gateway_errors_are_retried_with_growing_pauses_until_it_answers(
    start_local: StartLocal, gateway: Gateway
) -> None:
    gateway.failing = 503
    notifier = start_local(max_attempts=1000, base=0.05, cap=10.0)
    events = outcomes = notifier
    await events.publish("application.registered", registered(C))
    pauses: dict[int, float] = {}
    seen = 1
    while len(pauses) < 2:  # two pending states after failures, each seen once
        await notifier.run(until=pending_after_more_than(notifier, seen))
        sms_job = state_of(notifier.jobs_of(C), "sms")
        assert sms_job is not None
        assert "503" in str(sms_job.last_error)
        seen = sms_job.attempts
        pauses[seen] = pause_of(sms_job)
    first, second = sorted(pauses)
    assert pauses[first] == pytest.approx(0.05 * 2 ** (first - 1), abs=0.002)
    assert pauses[second] == pytest.approx(0.05 * 2 ** (second - 1), abs=0.002)
    assert pauses[second] > pauses[first]

    gateway.failing = None

    delivered = await outcomes.wait_for("notification.delivered", 2)
    assert len(gateway.accepted) == 1
    assert gateway.accepted[0]["reference"] == f"{C}:application.registered:sms"
    references = [request.json()["reference"] for request in gateway.requests]
    assert len(references) >= 4
    assert set(references) == {f"{C}:application.registered:sms"}
    assert next(d for d in delivered if d["channel"] == "sms")["attempts"] == len(references)
    assert outcomes.bodies("notification.failed") == []


async def test_an_invalid_address_fails_without_contacting_anyone(
    notifier: LocalNotifier,
    events: LocalNotifier,
    outcomes: LocalNotifier,
    smtp: SmtpServer,
    gateway: Gateway,
) -> None:
    await events.publish(
        "application.registered", registered(C, phone="0501234567", email="not-an-address")
    )

    failed = await outcomes.wait_for("notification.failed", 2)

    errors = {body["channel"]: body["error"] for body in failed}
    assert "invalid e-mail address" in errors["email"]
    assert "invalid phone number" in errors["sms"]
    assert smtp.recipients_tried == []
    assert gateway.requests == []


async def test_transient_failures_are_reported_failed_after_the_attempt_limit(
    start_local: StartLocal, gateway: Gateway
) -> None:
    gateway.failing = 502
    notifier = start_local(max_attempts=3)
    await notifier.publish("application.registered", registered(C))
    [failed] = await notifier.wait_for("notification.failed")

    assert failed["channel"] == "sms"
    assert failed["attempts"] == 3
    assert "502" in failed["error"]
    assert "gave up after 3 attempts" in failed["error"]
    assert len(gateway.requests) == 3
    [delivered] = notifier.bodies("notification.delivered")
    assert delivered["channel"] == "email"


async def test_a_mail_server_that_is_down_is_a_transient_failure(
    start_local: StartLocal, smtp: SmtpServer
) -> None:
    await smtp.stop()
    notifier = start_local(max_attempts=1000)
    await notifier.publish("application.registered", registered(D))
    await notifier.run(until=lambda: notifier.jobs_of(D)[0].attempts >= 2)

    email = notifier.jobs_of(D)[0]
    assert email.state == "pending"
    assert "SMTPConnectError" in str(email.last_error)
    await smtp.start()
    delivered = await notifier.wait_for("notification.delivered", 2)
    assert {body["channel"] for body in delivered} == {"email", "sms"}


async def test_a_gateway_answering_after_the_send_timeout_gets_the_sms_once(
    gateway: Gateway,
) -> None:
    """Once the SMS is sent, a slow answer is awaited (SMS_ANSWER_TIMEOUT), not taken for a
    failure that would send it again; connecting keeps the short SMS_TIMEOUT."""
    gateway.delay = 1.0
    url = f"http://127.0.0.1:{gateway.port}/messages"
    patient = HttpSmsGateway(url=url, timeout=0.2, answer_timeout=5.0)
    try:
        receipt = await patient.send(Sms("+994501234567", "Müraciət SQ-1", "ref-1"))
    finally:
        await patient.aclose()
    assert receipt == "gw-1"
    assert gateway.tried("+994501234567") == 1
    hasty = HttpSmsGateway(url=url, timeout=5.0, answer_timeout=0.2)
    try:
        with pytest.raises(DeliveryFailed, match="time-out") as failed:
            await hasty.send(Sms("+994501234567", "Müraciət SQ-1", "ref-1"))
    finally:
        await hasty.aclose()
    assert failed.value.permanent is False
