"""``python -m services.dispatcher`` as its own process, as ``make run`` starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from tests.dispatcher.conftest import given, publish_registered, registered, report, team
from tests.support.amqp import EventLog, Portal, wait_until_consumed

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


async def test_the_service_process_dispatches_takes_a_report_and_stops_cleanly(
    dispatcher_settings: DispatcherSettings, store: MongoDispatcherStore, rabbitmq_url: str
) -> None:
    await given(store, [team("T-03", "BAK-XAT")], {"BAK-XAT": 2})
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbitmq_url,
        "MONGO_URL": dispatcher_settings.mongo_url,
        "DATABASE_PREFIX": dispatcher_settings.database_prefix,
        "LOG_FORMAT": "json",
        "GRACEFUL_TIMEOUT": "5",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.dispatcher"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        async with EventLog(rabbitmq_url, patterns=("application.*",)) as events:
            await wait_until_consumed(rabbitmq_url, "dispatcher.application_registered")
            await publish_registered(rabbitmq_url, registered("BAK-XAT"))
            [assigned] = await events.wait_for("application.assigned", timeout=30)
            async with Portal(rabbitmq_url) as field_app:
                reply = await field_app.request("dispatcher.report_outcome", report(assigned))
            assert reply.body == {"outcome": "accepted"}
            await events.wait_for("application.completed")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0
    log = stderr.decode()
    assert '"service": "dispatcher"' in log
    assert '"event_loop": "uvloop"' in log  # EVENT_LOOP's default, uvloop being installed
    assert '"application_number": "' in log
