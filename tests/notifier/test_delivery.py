"""Each step reaches the citizen by e-mail and SMS, over a real SMTP server and gateway."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime

import pytest

from services.notifier import smsparts
from tests.notifier.conftest import (
    SENDER,
    TOKEN,
    Jobs,
    Publisher,
    StartNotifier,
    completed,
    forwarded,
    registered,
    rejected,
)
from tests.notifier.servers import Gateway, SmtpServer
from tests.support.amqp import EventLog, drain

pytestmark = pytest.mark.broker

A, B = "SQ-2026-000101", "SQ-2026-000102"
REGISTERED_AZ = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)


async def test_every_step_sends_one_email_and_one_sms_with_its_text(
    notifier: object, events: Publisher, outcomes: EventLog, smtp: SmtpServer, gateway: Gateway
) -> None:
    await events.publish("application.registered", registered(A))
    await events.publish("application.forwarded", forwarded(A))
    await events.publish("application.completed", completed(A))
    await events.publish("application.registered", registered(B, phone="+994551112233"))
    await events.publish("application.rejected", rejected(B))

    delivered = await outcomes.wait_for("notification.delivered", 10)

    assert sorted((d["application_number"], d["event"], d["channel"]) for d in delivered) == sorted(
        (number, f"application.{step}", channel)
        for number, steps in (
            (A, ("registered", "forwarded", "completed")),
            (B, ("registered", "rejected")),
        )
        for step in steps
        for channel in ("email", "sms")
    )
    assert sorted(mail.subject for mail in smtp.received) == sorted(
        [
            f"Müraciət {A}: Qeydiyyata alındı",
            f"Müraciət {A}: İcraya yönləndirildi",
            f"Müraciət {A}: İcra edildi",
            f"Müraciət {B}: Qeydiyyata alındı",
            f"Müraciət {B}: İcra edilmədi",
        ]
    )
    assert [body["text"] for body in gateway.to("+994501234567")] == [
        REGISTERED_AZ.format(A),
        f"{A} nömrəli müraciətiniz icraya yönləndirildi.",
        f"{A} nömrəli müraciətiniz icra edildi. Sayğac: WM-77001, akt: AKT-2026-0042.",
    ]
    assert [body["text"] for body in gateway.to("+994551112233")] == [
        REGISTERED_AZ.format(B),
        f"{B} nömrəli müraciətiniz icra edilmədi. Səbəb: sayğac ehtiyatı yoxdur.",
    ]
    assert outcomes.bodies("notification.failed") == []


async def test_the_email_is_utf8_mime_with_text_and_html_and_the_headers_it_needs(
    notifier: object, events: Publisher, outcomes: EventLog, smtp: SmtpServer
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
    notifier: object, events: Publisher, outcomes: EventLog, smtp: SmtpServer
) -> None:
    await events.publish("application.registered", registered(A, email="vətəndaş@example.az"))
    await outcomes.wait_for("notification.delivered", 2)

    [mail] = smtp.received
    assert mail.recipients == ["vətəndaş@example.az"]
    assert mail.message["To"] == "vətəndaş@example.az"
    assert mail.subject == f"Müraciət {A}: Qeydiyyata alındı"


async def test_texts_follow_the_applicants_language(
    notifier: object, events: Publisher, outcomes: EventLog, smtp: SmtpServer, gateway: Gateway
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
    notifier: object, events: Publisher, outcomes: EventLog, gateway: Gateway
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


async def test_every_event_delivered_twice_sends_exactly_one_email_and_one_sms(
    start_notifier: StartNotifier,
    events: Publisher,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    async with start_notifier(prefetch=1):  # one at a time, in order: B comes last
        await _publish_every_step_twice_then_another_application(events)
        await outcomes.wait_for("notification.delivered", 10)
        await jobs.wait(
            A, lambda found: len(found) == 8 and all(j["state"] == "sent" for j in found)
        )
    _all_settled(smtp, gateway, outcomes)

    assert len(smtp.to("citizen@example.az")) == 5  # 4 for A, 1 for B (same address)
    assert len(gateway.to("+994501234567")) == 4
    assert len(gateway.to("+994551112233")) == 1
    assert len(outcomes.bodies("notification.delivered")) == 10
    references = [body["reference"] for body in gateway.accepted]
    assert len(references) == len(set(references))


async def _publish_every_step_twice_then_another_application(events: Publisher) -> None:
    steps = [
        ("application.registered", registered(A)),
        ("application.forwarded", forwarded(A)),
        ("application.completed", completed(A)),
        ("application.rejected", rejected(A)),
    ]
    for key, body in steps + steps:  # every event twice, each with its own message_id
        await events.publish(key, body)
    # A later application: once its notifications are out, the duplicates were handled.
    await events.publish("application.registered", registered(B, phone="+994551112233"))


async def test_steps_arriving_before_the_registration_are_sent_once_it_arrives(
    notifier: object,
    events: Publisher,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
    rabbitmq_url: str,
) -> None:
    await events.publish("application.forwarded", forwarded(A))
    await events.publish("application.completed", completed(A))
    await jobs.wait(A, lambda found: [j["state"] for j in found] == ["waiting"] * 4)
    assert smtp.received == []
    assert gateway.requests == []

    await events.publish("application.registered", registered(A))

    delivered = await outcomes.wait_for("notification.delivered", 6)
    assert {(d["event"], d["channel"]) for d in delivered} == {
        (f"application.{step}", channel)
        for step in ("registered", "forwarded", "completed")
        for channel in ("email", "sms")
    }
    assert len(smtp.received) == 3
    assert len(gateway.accepted) == 3
    assert await drain(rabbitmq_url, "notifier.application_events.dlq", timeout=0.5) == []


def _all_settled(smtp: SmtpServer, gateway: Gateway, outcomes: EventLog) -> None:
    """Nothing more can be sent: every outcome reported equals what the servers got."""
    delivered = outcomes.bodies("notification.delivered")
    assert len(smtp.received) == sum(1 for d in delivered if d["channel"] == "email")
    assert len(gateway.accepted) == sum(1 for d in delivered if d["channel"] == "sms")


async def test_the_outcome_events_carry_on_the_correlation_id_of_the_step(
    notifier: object, events: Publisher, outcomes: EventLog
) -> None:
    await events.publish("application.registered", registered(A), correlation_id="journey-42")
    await outcomes.wait_for("notification.delivered", 2)
    delivered = [m for m in outcomes.received if m.routing_key == "notification.delivered"]
    assert {message.correlation_id for message in delivered} == {"journey-42"}
