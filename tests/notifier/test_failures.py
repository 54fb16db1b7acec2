"""Transient failures are retried with growing pauses until delivery; permanent ones are
reported at once. Nothing is lost and nothing waits behind a failing message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.notifier.conftest import Jobs, Publisher, StartNotifier, registered
from tests.notifier.servers import Gateway, SmtpServer
from tests.support.amqp import EventLog, drain

pytestmark = pytest.mark.broker

A, B = "SQ-2026-000201", "SQ-2026-000202"
PATIENT = {"notify_max_attempts": 1000}  # retries must outlast the outage


def state_of(found: list[dict[str, Any]], channel: str) -> dict[str, Any]:
    """The job of ``channel`` (an empty one until it is recorded)."""
    return next((job for job in found if job["channel"] == channel), {"attempts": 0})


def pause_of(job: dict[str, Any]) -> float:
    """The pause the sender chose after the job's last failure, from its stored times."""

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (at(job["next_attempt_at"]) - at(job["updated_at"])).total_seconds()


def pending_after_more_than(attempts: int) -> Callable[[list[dict[str, Any]]], bool]:
    def ready(found: list[dict[str, Any]]) -> bool:
        job = state_of(found, "sms")
        return job.get("state") == "pending" and int(job["attempts"]) > attempts

    return ready


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


async def test_gateway_errors_are_retried_with_growing_pauses_until_it_answers(
    start_notifier: StartNotifier,
    events: Publisher,
    outcomes: EventLog,
    gateway: Gateway,
    jobs: Jobs,
) -> None:
    gateway.failing = 503
    async with start_notifier(**PATIENT, notify_retry_base=0.05, notify_retry_cap=10.0):
        await events.publish("application.registered", registered(A))
        pauses: dict[int, float] = {}
        seen = 1
        while len(pauses) < 2:  # two pending states after failures, each seen once
            found = await jobs.wait(A, pending_after_more_than(seen))
            sms_job = state_of(found, "sms")
            assert "503" in str(sms_job["last_error"])
            seen = int(sms_job["attempts"])
            pauses[seen] = pause_of(sms_job)
        first, second = sorted(pauses)
        assert pauses[first] == pytest.approx(0.05 * 2 ** (first - 1), abs=0.002)
        assert pauses[second] == pytest.approx(0.05 * 2 ** (second - 1), abs=0.002)
        assert pauses[second] > pauses[first]

        gateway.failing = None

        delivered = await outcomes.wait_for("notification.delivered", 2)
    assert len(gateway.accepted) == 1
    assert gateway.accepted[0]["reference"] == f"{A}:application.registered:sms"
    references = [request.json()["reference"] for request in gateway.requests]
    assert len(references) >= 4
    assert set(references) == {f"{A}:application.registered:sms"}
    assert next(d for d in delivered if d["channel"] == "sms")["attempts"] == len(references)
    assert outcomes.bodies("notification.failed") == []


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


async def test_an_invalid_address_fails_without_contacting_anyone(
    notifier: object, events: Publisher, outcomes: EventLog, smtp: SmtpServer, gateway: Gateway
) -> None:
    await events.publish(
        "application.registered", registered(A, phone="0501234567", email="not-an-address")
    )

    failed = await outcomes.wait_for("notification.failed", 2)

    errors = {body["channel"]: body["error"] for body in failed}
    assert "invalid e-mail address" in errors["email"]
    assert "invalid phone number" in errors["sms"]
    assert smtp.recipients_tried == []
    assert gateway.requests == []


async def test_transient_failures_are_reported_failed_after_the_attempt_limit(
    start_notifier: StartNotifier,
    events: Publisher,
    outcomes: EventLog,
    gateway: Gateway,
) -> None:
    gateway.failing = 502
    async with start_notifier(notify_max_attempts=3):
        await events.publish("application.registered", registered(A))
        [failed] = await outcomes.wait_for("notification.failed")

    assert failed["channel"] == "sms"
    assert failed["attempts"] == 3
    assert "502" in failed["error"]
    assert "gave up after 3 attempts" in failed["error"]
    assert len(gateway.requests) == 3
    [delivered] = outcomes.bodies("notification.delivered")
    assert delivered["channel"] == "email"


async def test_an_unreadable_event_is_parked_with_the_reason(
    notifier: object, events: Publisher, rabbitmq_url: str
) -> None:
    await events.publish("application.registered", {"application_number": A})

    [parked] = await drain(rabbitmq_url, "notifier.application_events.dlq")

    assert json.loads(parked.body) == {"application_number": A}
    assert "malformed_message" in str(parked.headers["x-error"])
    assert "contact" in str(parked.headers["x-error"])
