"""Fixtures shared by every test: a real broker vhost and a MongoDB-speaking server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from shared.settings import CommonSettings
from tests.support import infra


@pytest.fixture(scope="session")
def rabbitmq_base_url() -> Iterator[str]:
    with infra.rabbitmq_base_url() as url:
        yield url


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    with infra.mongo_url() as url:
        yield url


@pytest.fixture
def rabbitmq_url(rabbitmq_base_url: str) -> Iterator[str]:
    """A fresh vhost per test, so no test sees another's messages or queues."""
    admin = infra.VhostAdmin(rabbitmq_base_url)
    name = f"test-{uuid.uuid4().hex[:12]}"
    url = admin.create(name)
    yield url
    admin.delete(name)


@pytest.fixture
def settings_values(rabbitmq_url: str, mongo_url: str) -> dict[str, Any]:
    """Keyword arguments for any service's settings, with this test's own databases."""
    return {
        "rabbitmq_url": rabbitmq_url,
        "mongo_url": mongo_url,
        "log_level": "INFO",
        "log_format": "console",
        "graceful_timeout": 5.0,
        "database_prefix": f"t{uuid.uuid4().hex[:10]}_",
    }


@pytest.fixture
def common_settings(settings_values: dict[str, Any]) -> CommonSettings:
    return CommonSettings(**settings_values)


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """Run a FastStream app in this event loop for the duration of the block."""
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
def run_app() -> Any:
    return running
