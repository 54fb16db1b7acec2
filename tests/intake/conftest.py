"""Intake running in-process against the test's own vhost and databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from meterctl.csvfile import read_rows
from services.intake.main import create_app
from services.intake.mongo import MongoIntakeStore
from services.intake.reference import SUBSCRIBER_COLUMNS, subscriber_row
from services.intake.settings import IntakeSettings
from shared.mongo import make_client
from tests.support.amqp import EventLog, Portal

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "subscribers.csv"


@pytest.fixture
def intake_settings(settings_values: dict[str, Any]) -> IntakeSettings:
    return IntakeSettings(**settings_values, channel_users={"guest": "e-gov", "other": "e-su"})


@pytest.fixture
async def intake_db(intake_settings: IntakeSettings) -> AsyncIterator[Any]:
    client = make_client(intake_settings.mongo_url, "tests")
    db = client[intake_settings.database_name("intake")]
    rows, errors = read_rows(
        DEMO, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda r: r.subscriber_code
    )
    assert not errors
    await MongoIntakeStore(db).upsert_subscribers(rows)
    yield db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
async def intake(
    intake_settings: IntakeSettings, intake_db: Any, run_app: Any
) -> AsyncIterator[Any]:
    app = create_app(intake_settings, configure_logging=False)
    async with run_app(app):
        yield app


@pytest.fixture
async def portal(intake: Any, rabbitmq_url: str) -> AsyncIterator[Portal]:
    async with Portal(rabbitmq_url) as client:
        yield client


@pytest.fixture
async def events(intake: Any, rabbitmq_url: str) -> AsyncIterator[EventLog]:
    async with EventLog(rabbitmq_url) as log:
        yield log
