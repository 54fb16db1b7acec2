"""A crash between storing an application and publishing its event loses nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.intake.settings import IntakeSettings
from tests.intake.test_registration import submission
from tests.support.amqp import EventLog, Portal, wait_until_consumed

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def service_env(settings: IntakeSettings) -> dict[str, str]:
    return {
        **os.environ,
        "RABBITMQ_URL": settings.rabbitmq_url,
        "MONGO_URL": settings.mongo_url,
        "DATABASE_PREFIX": settings.database_prefix,
        "CHANNEL_USERS": "guest=e-gov",
        "LOG_FORMAT": "json",
        "GRACEFUL_TIMEOUT": "5",
    }


async def wait_exit(process: subprocess.Popen[bytes], timeout: float) -> int:
    for _ in range(int(timeout * 10)):
        if process.poll() is not None:
            return process.returncode
        await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("the service did not exit")


async def test_an_application_stored_before_a_crash_is_published_exactly_once(
    intake_settings: IntakeSettings, intake_db: Any, rabbitmq_url: str
) -> None:
    env = service_env(intake_settings)
    crashing = subprocess.Popen(
        [sys.executable, "-m", "tests.intake.crashing_intake"], cwd=ROOT, env=env
    )
    await wait_until_consumed(rabbitmq_url, "intake.submit_application")
    async with EventLog(rabbitmq_url) as events, Portal(rabbitmq_url) as portal:
        body = submission()
        correlation_id = await portal.send("intake.submit_application", body)
        answered = portal.pending[correlation_id]

        assert await wait_exit(crashing, 30) == 86
        stored = await intake_db["applications"].find_one({"submission_id": body["submission_id"]})
        assert stored is not None, "the application was stored before the crash"
        assert len(stored["outbox"]) == 1
        assert events.bodies("application.registered") == []
        # The portal was answered before the event's publication began (and the crash).
        first = await asyncio.wait_for(answered, 10)
        assert first.body["application_number"] == stored["_id"]
        again = portal.pending[correlation_id] = asyncio.get_running_loop().create_future()

        restarted = subprocess.Popen([sys.executable, "-m", "services.intake"], cwd=ROOT, env=env)
        try:
            # Not acknowledged before the crash, the submission comes back and is answered
            # from the stored registration: the same number, no second application.
            reply = await asyncio.wait_for(again, 30)
            assert reply.outcome == "registered"
            assert reply.body["application_number"] == stored["_id"]
            assert await intake_db["applications"].count_documents({}) == 1
            [event] = await events.wait_for("application.registered", timeout=30)
            assert event["application_number"] == stored["_id"]
            await asyncio.sleep(3)  # a second publication would show up by now
            assert len(events.bodies("application.registered")) == 1
            after = await intake_db["applications"].find_one({"_id": stored["_id"]})
            assert after["outbox"] == []
            assert "outbox_since" not in after
        finally:
            restarted.terminate()
            assert await wait_exit(restarted, 30) == 0
