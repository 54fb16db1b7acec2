"""The status service running in-process against the test's own vhost and databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from services.status.main import create_app
from services.status.settings import StatusSettings
from shared.mongo import make_client
from tests.status.events import EventPublisher
from tests.support.amqp import Portal

API_KEY = "test-portal-key"


@pytest.fixture
def status_settings(settings_values: dict[str, Any]) -> StatusSettings:
    return StatusSettings(**settings_values, http_port=0, api_keys=frozenset({API_KEY}))


@pytest.fixture
async def status_db(status_settings: StatusSettings) -> AsyncIterator[Any]:
    client = make_client(status_settings.mongo_url, "tests")
    db = client[status_settings.database_name("status")]
    yield db
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture
def applications(status_db: Any) -> Any:
    """The live read-model collection, for looking at the stored documents."""
    return status_db["applications"]


@pytest.fixture
async def status(
    status_settings: StatusSettings, status_db: Any, run_app: Any
) -> AsyncIterator[Any]:
    app = create_app(status_settings, configure_logging=False)
    async with run_app(app):
        yield app


@pytest.fixture
async def portal(status: Any, rabbitmq_url: str) -> AsyncIterator[Portal]:
    async with Portal(rabbitmq_url) as client:
        yield client


@pytest.fixture
async def producer(status: Any, rabbitmq_url: str) -> AsyncIterator[EventPublisher]:
    async with EventPublisher(rabbitmq_url) as publisher:
        yield publisher


Condition = Callable[[dict[str, Any] | None], bool]


@pytest.fixture
def projected(applications: Any) -> Callable[[str, Condition], Awaitable[dict[str, Any]]]:
    """Wait until the document of ``number`` satisfies ``condition``; the document."""

    async def wait(number: str, condition: Condition, timeout: float = 15.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            document = await applications.find_one({"_id": number})
            if condition(document):
                assert document is not None
                return dict(document)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{number} never got there; last seen: {document}")
            await asyncio.sleep(0.05)

    return wait


@pytest.fixture
def settled(applications: Any) -> Callable[[], Awaitable[None]]:
    """Wait until no document holds a portal update: every one published and taken out
    (the service takes them out in batches, a few milliseconds after publishing)."""

    async def wait(timeout: float = 15.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while await applications.count_documents({"outbox": {"$exists": True}}):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("portal updates still pending in the read model")
            await asyncio.sleep(0.02)

    return wait


def steps(count: int) -> Condition:
    """The document holds ``count`` application steps."""
    return lambda document: document is not None and len(document["received"]["steps"]) >= count


def outcomes(count: int) -> Condition:
    return lambda document: (
        document is not None and len(document["received"]["notifications"]) >= count
    )
