"""Failures: a message failing on its own is retried, parked with the error and replayed by an
operator; a dependency that does not answer parks nothing (the message waits for it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from meterctl import dlq
from services.intake.domain import registration_year
from services.intake.main import create_app
from services.intake.mongo import MongoIntakeStore
from services.intake.settings import IntakeSettings
from shared.clock import utc_now
from tests.intake.test_registration import submission
from tests.support.amqp import Portal, drain, publish_event

pytestmark = pytest.mark.broker

ACT = {
    "act_number": "AKT-1",
    "meter_serial": "WM-1",
    "meter_model": "",
    "initial_reading_m3": "0.000",
    "seal_numbers": ["PL-1"],
    "installed_at": "2026-11-27T10:00:00+04:00",
    "installer_name": "Rəşad",
}


async def test_a_message_that_fails_on_its_own_is_retried_then_parked_and_can_be_replayed(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    run_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = intake_settings.model_copy(update={"retry_base_delay": 0.05})
    attempts: list[str] = []
    real_close = MongoIntakeStore.close_application

    async def broken_close(self: MongoIntakeStore, number: str, status: str, at: str) -> bool:
        attempts.append(number)
        raise RuntimeError("a bug in closing")

    monkeypatch.setattr(MongoIntakeStore, "close_application", broken_close)
    async with run_app(create_app(settings, configure_logging=False)):
        async with Portal(rabbitmq_url) as portal:
            registered = await portal.request("intake.submit_application", submission())
        number = registered.body["application_number"]
        await publish_event(
            rabbitmq_url,
            "application.completed",
            {
                "application_number": number,
                "occurred_at": "2026-11-27T10:00:00+04:00",
                "sequence": 4,
                "outcome": "installed",
                "act": ACT,
            },
        )
        for _ in range(100):
            parked = await dlq.peek(rabbitmq_url, "intake.application_closed", 5)
            if parked:
                break
            await asyncio.sleep(0.1)
        assert len(attempts) == 5, "tried once and retried up to the delivery limit"
        [entry] = parked
        assert "failed 5 times" in entry["error"]
        assert "a bug in closing" in entry["error"]

        monkeypatch.setattr(MongoIntakeStore, "close_application", real_close)
        assert await dlq.replay(rabbitmq_url, "intake.application_closed.dlq") == 1
        for _ in range(100):
            document = await intake_db["applications"].find_one({"_id": number})
            if document["status"] == "completed":
                break
            await asyncio.sleep(0.1)
        assert document["status"] == "completed"
        assert "open_key" not in document
        assert await drain(rabbitmq_url, "intake.application_closed.dlq", timeout=0.5) == []


async def test_an_outage_parks_nothing_and_the_submission_registers_when_the_database_returns(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    run_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_account = MongoIntakeStore.account
    calls: list[str] = []

    async def unreachable(self: MongoIntakeStore, code: str) -> Any:
        calls.append(code)
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(MongoIntakeStore, "account", unreachable)
    settings = intake_settings.model_copy(update={"retry_base_delay": 0.05})
    async with (
        run_app(create_app(settings, configure_logging=False)),
        Portal(rabbitmq_url) as portal,
    ):
        correlation_id = await portal.send("intake.submit_application", submission())
        answered = portal.pending[correlation_id]
        for _ in range(100):
            if len(calls) >= 6:  # well past the five tries that park a failing message
                break
            await asyncio.sleep(0.1)
        assert len(calls) >= 6
        assert not answered.done()
        assert await dlq.peek(rabbitmq_url, "intake.submit_application", 1) == []

        monkeypatch.setattr(MongoIntakeStore, "account", real_account)
        reply = await asyncio.wait_for(answered, 40)
    assert reply.outcome == "registered", reply.body
    assert await drain(rabbitmq_url, "intake.submit_application.dlq", timeout=0.5) == []


async def test_a_submission_parked_for_its_own_failure_keeps_its_sender_when_replayed(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    run_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = intake_settings.model_copy(update={"retry_base_delay": 0.01})
    real_account = MongoIntakeStore.account

    async def broken(self: MongoIntakeStore, code: str) -> Any:
        raise RuntimeError("a bug in the directory")

    monkeypatch.setattr(MongoIntakeStore, "account", broken)
    async with (
        run_app(create_app(settings, configure_logging=False)),
        Portal(rabbitmq_url) as portal,
    ):
        correlation_id = await portal.send("intake.submit_application", submission())
        answered = portal.pending[correlation_id]
        for _ in range(100):
            if await dlq.peek(rabbitmq_url, "intake.submit_application", 1):
                break
            await asyncio.sleep(0.1)
        assert not answered.done()

        monkeypatch.setattr(MongoIntakeStore, "account", real_account)
        assert await dlq.replay(rabbitmq_url, "intake.submit_application") == 1
        reply = await asyncio.wait_for(answered, 15)
    # Parking recorded the portal's user_id, so the channel is still known.
    assert reply.outcome == "registered", reply.body


async def test_a_submission_past_the_years_last_number_is_parked_not_given_seven_digits(
    intake_settings: IntakeSettings, intake_db: Any, rabbitmq_url: str, run_app: Any
) -> None:
    year = registration_year(utc_now())
    await intake_db["counters"].replace_one(
        {"_id": f"SQ-{year}"}, {"_id": f"SQ-{year}", "last": 999_999}, upsert=True
    )
    settings = intake_settings.model_copy(update={"retry_base_delay": 0.05})
    async with (
        run_app(create_app(settings, configure_logging=False)),
        Portal(rabbitmq_url) as portal,
    ):
        correlation_id = await portal.send("intake.submit_application", submission())
        answered = portal.pending[correlation_id]
        for _ in range(200):
            parked = await dlq.peek(rabbitmq_url, "intake.submit_application", 5)
            if parked:
                break
            await asyncio.sleep(0.1)
        [entry] = parked
        assert "numbers_used_up" in entry["error"]
        assert not answered.done()
    assert await intake_db["applications"].count_documents({}) == 0
    assert await drain(rabbitmq_url, "intake.submit_application.dlq", timeout=0.5)
