"""Shutdown finishes in-flight messages or returns them to the broker, never rejects them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.intake.main import create_app
from services.intake.mongo import MongoIntakeStore
from services.intake.settings import IntakeSettings
from tests.intake.test_registration import submission
from tests.support.amqp import Portal, drain

pytestmark = pytest.mark.broker


def slowed(monkeypatch: pytest.MonkeyPatch, seconds: float) -> asyncio.Event:
    started = asyncio.Event()
    real = MongoIntakeStore.account

    async def slow_account(self: MongoIntakeStore, code: str) -> dict[str, Any] | None:
        started.set()
        await asyncio.sleep(seconds)
        return await real(self, code)

    monkeypatch.setattr(MongoIntakeStore, "account", slow_account)
    return started


async def test_a_message_in_flight_at_shutdown_is_finished_and_answered(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = slowed(monkeypatch, 1.0)
    app = create_app(intake_settings, configure_logging=False)  # graceful timeout 5 s
    await app.start()
    async with Portal(rabbitmq_url) as portal:
        correlation_id = await portal.send("intake.submit_application", submission())
        answered = portal.pending[correlation_id]
        await asyncio.wait_for(started.wait(), 10)
        await app.stop()
        reply = await asyncio.wait_for(answered, 5)
    assert reply.outcome == "registered"
    assert await drain(rabbitmq_url, "intake.submit_application.dlq", timeout=0.5) == []


async def test_a_message_outliving_the_graceful_timeout_is_returned_not_rejected(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = intake_settings.model_copy(update={"graceful_timeout": 0.5})
    started = slowed(monkeypatch, 30.0)
    app = create_app(settings, configure_logging=False)
    await app.start()
    async with Portal(rabbitmq_url) as portal:
        correlation_id = await portal.send("intake.submit_application", submission())
        answered = portal.pending[correlation_id]
        await asyncio.wait_for(started.wait(), 10)
        await app.stop()
        assert await drain(rabbitmq_url, "intake.submit_application.dlq", timeout=0.5) == []

        monkeypatch.undo()
        restarted = create_app(intake_settings, configure_logging=False)
        await restarted.start()
        try:
            reply = await asyncio.wait_for(answered, 15)
        finally:
            await restarted.stop()
    assert reply.outcome == "registered"
