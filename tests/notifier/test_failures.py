"""Through the broker, with the real SMTP server and gateway: transient failures are retried
until delivery, permanent ones are reported at once, nothing is lost and nothing waits
behind a failing message; a job whose sender died is taken back. The pauses, the attempt
limit and invalid addresses are tested without a broker (``test_providers``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from services.notifier.domain import jobs as job_rules
from services.notifier.domain.steps import Contact, StepEvent
from services.notifier.mongo import MongoNotifierStore
from services.notifier.settings import NotifierSettings
from shared.clock import utc_now
from tests.notifier.conftest import Jobs, Publisher, StartNotifier, registered
from tests.notifier.servers import Gateway, SmtpServer
from tests.support.amqp import EventLog, drain

pytestmark = pytest.mark.broker

A, B = "SQ-2026-000201", "SQ-2026-000202"
PATIENT = {"notify_max_attempts": 1000}  # retries must outlast the outage


def state_of(found: list[dict[str, Any]], channel: str) -> dict[str, Any]:
    """The job of ``channel`` (an empty one until it is recorded)."""
    return next((job for job in found if job["channel"] == channel), {"attempts": 0})


async def test_a_mail_server_that_is_down_is_retried_until_it_is_back(
    start_notifier: StartNotifier,
    events: Publisher,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    await smtp.stop()
    async with start_notifier(**PATIENT):
        await events.publish("application.registered", registered(A))
        # The SMS does not wait behind the failing e-mail.
        [sms] = await outcomes.wait_for("notification.delivered")
        assert sms["channel"] == "sms"
        found = await jobs.wait(
            A,
            lambda f: (
                state_of(f, "email").get("state") == "pending"
                and state_of(f, "email")["attempts"] >= 3
            ),
        )
        assert "SMTPConnectError" in state_of(found, "email")["last_error"]

        await smtp.start()

        delivered = await outcomes.wait_for("notification.delivered", 2)
    assert {body["channel"] for body in delivered} == {"email", "sms"}
    [mail] = smtp.received
    assert mail.subject == f"Müraciət {A}: Qeydiyyata alındı"
    assert outcomes.bodies("notification.failed") == []
    assert delivered[-1]["attempts"] >= 4


async def test_an_unreachable_gateway_is_retried_and_nothing_is_lost(
    start_notifier: StartNotifier,
    events: Publisher,
    outcomes: EventLog,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    await gateway.stop()
    async with start_notifier(**PATIENT):
        for number in (A, B):
            await events.publish("application.registered", registered(number))
        for number in (A, B):
            await jobs.wait(number, lambda f: int(state_of(f, "sms")["attempts"]) >= 2)

        await gateway.start()

        delivered = await outcomes.wait_for("notification.delivered", 4)
    assert sorted(body["reference"] for body in gateway.accepted) == [
        f"{A}:application.registered:sms",
        f"{B}:application.registered:sms",
    ]
    assert len(delivered) == 4


async def test_permanent_failures_are_not_retried_and_are_reported(
    notifier: object,
    events: Publisher,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    gateway.reject.add("+994509998877")
    smtp.refuse.add("nobody@example.az")
    await events.publish(
        "application.registered", registered(A, phone="+994509998877", email="nobody@example.az")
    )

    failed = await outcomes.wait_for("notification.failed", 2)
    found = await jobs.wait(A, lambda f: [job["state"] for job in f] == ["failed", "failed"])

    by_channel = {body["channel"]: body for body in failed}
    assert by_channel["sms"]["event"] == "application.registered"
    assert by_channel["sms"]["application_number"] == A
    assert "400" in by_channel["sms"]["error"]
    assert "permanent" in by_channel["sms"]["error"]
    assert "550" in by_channel["email"]["error"]
    assert [job["attempts"] for job in found] == [1, 1]
    # A failed job is final: the sender never picks it up again.
    assert all("next_attempt_at" not in job for job in found)
    assert gateway.tried("+994509998877") == 1
    assert smtp.recipients_tried.count("nobody@example.az") == 1
    assert smtp.received == []
    assert outcomes.bodies("notification.delivered") == []


async def test_an_unreadable_event_is_parked_with_the_reason(
    notifier: object, events: Publisher, rabbitmq_url: str
) -> None:
    await events.publish("application.registered", {"application_number": A})

    [parked] = await drain(rabbitmq_url, "notifier.application_events.dlq")

    assert json.loads(parked.body) == {"application_number": A}
    assert "malformed_message" in str(parked.headers["x-error"])
    assert "contact" in str(parked.headers["x-error"])


async def test_jobs_whose_sender_died_are_sent_once_their_lease_runs_out(
    start_notifier: StartNotifier,
    notifier_settings: NotifierSettings,
    notifier_db: Any,
    outcomes: EventLog,
    smtp: SmtpServer,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    # A notifier claimed both jobs of a step, then died before sending them.
    store = MongoNotifierStore(notifier_db)
    policy = notifier_settings.retry_policy()
    then = utc_now() - timedelta(seconds=policy.lease + 1)
    contact = Contact("+994501234567", "citizen@example.az", "az")
    made = job_rules.new_jobs(
        StepEvent("application.registered", A, 1, contact=contact), then, True, "journey-9"
    )
    await store.record(made, contact)
    for job in made:
        assert await store.replace(job, job_rules.claimed(job, then, policy))

    async with start_notifier():
        delivered = await outcomes.wait_for("notification.delivered", 2)
        found = await jobs.wait(A, lambda f: [job["state"] for job in f] == ["sent", "sent"])

    assert [body["attempts"] for body in delivered] == [2, 2]
    assert [job["attempts"] for job in found] == [2, 2]
    assert [mail.subject for mail in smtp.received] == [f"Müraciət {A}: Qeydiyyata alındı"]
    assert [body["reference"] for body in gateway.accepted] == [f"{A}:application.registered:sms"]
    messages = [m for m in outcomes.received if m.routing_key == "notification.delivered"]
    assert {message.correlation_id for message in messages} == {"journey-9"}
