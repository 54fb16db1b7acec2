"""Each step reaches the citizen by e-mail and SMS through the broker, over a real SMTP
server and gateway: once per event however often it is delivered, in order, and with the
step's correlation id on the outcome events. What the e-mail and SMS look like on the wire
is tested without a broker (``test_providers``)."""

from __future__ import annotations

import pytest

from tests.notifier.conftest import (
    Jobs,
    Publisher,
    StartNotifier,
    completed,
    forwarded,
    overdue,
    registered,
    rejected,
    withdrawn,
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
    # The installed completion's e-mail, and only it, carries the act's copy.
    files = {
        mail.subject: [part.get_filename() for part in mail.message.iter_attachments()]
        for mail in smtp.received
    }
    assert files.pop(f"Müraciət {A}: İcra edildi") == ["akt-AKT-2026-0042.pdf"]
    assert set(map(tuple, files.values())) == {()}
    assert outcomes.bodies("notification.failed") == []


async def test_a_withdrawal_reaches_the_citizen_and_an_overdue_application_does_not(
    notifier: object,
    events: Publisher,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
    rabbitmq_url: str,
) -> None:
    await events.publish("application.registered", registered(A))
    await events.publish("application.forwarded", forwarded(A))
    await events.publish("application.overdue", overdue(A))  # not bound: never arrives
    await events.publish("application.withdrawn", withdrawn(A))

    delivered = await outcomes.wait_for("notification.delivered", 6)

    assert sorted((d["event"], d["channel"]) for d in delivered) == sorted(
        (f"application.{step}", channel)
        for step in ("registered", "forwarded", "withdrawn")
        for channel in ("email", "sms")
    )
    assert [mail.subject for mail in smtp.received][-1] == f"Müraciət {A}: Geri götürüldü"
    assert [body["text"] for body in gateway.to("+994501234567")] == [
        REGISTERED_AZ.format(A),
        f"{A} nömrəli müraciətiniz icraya yönləndirildi.",
        f"{A} nömrəli müraciətiniz geri götürüldü.",
    ]
    assert not any("overdue" in job["_id"] for job in await jobs.of(A))
    assert await drain(rabbitmq_url, "notifier.application_events.dlq", timeout=0.5) == []


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
