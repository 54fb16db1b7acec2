"""Fixtures shared by every test: a real broker vhost and a MongoDB-speaking server.

The test pyramid has four layers, told apart by markers that are set here from the
fixtures a test uses, so no test can need a server without saying so:

- ``unit`` (no marker): pure rules and use cases with in-memory stores; no server at all;
- ``store``: needs MongoDB (or the embedded MongoDB-compatible server) only;
- ``broker``: needs the real RabbitMQ (and MongoDB);
- ``e2e``: runs services as separate processes.

The summary at the end shows the time spent per layer.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.settings import CommonSettings
from tests.support import infra


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C is taken as usual even by a run started in the background by a shell without
    job control (``make test &``), which starts it with SIGINT ignored: the programs the
    tests start inherit that and would then not stop when a test stops them with SIGINT."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


ROOT = Path(__file__).resolve().parent.parent
_LIBRARIES = ROOT / ".venv"


def _ours(task: asyncio.Task[Any]) -> bool:
    """Whether ``task`` runs a coroutine of this repository (not of a library it uses)."""
    code = getattr(task.get_coro(), "cr_code", None)
    if code is None:
        return False
    path = Path(code.co_filename)
    return path.is_relative_to(ROOT) and not path.is_relative_to(_LIBRARIES)


async def cancel_left(before: set[asyncio.Task[Any]], wait: float = 5.0) -> list[str]:
    """Cancel the tasks of ours started since ``before`` and still running; those that go
    on ``wait`` seconds after that, by name."""
    left = [task for task in asyncio.all_tasks() - before if not task.done() and _ours(task)]
    if not left:
        return []
    for task in left:
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=wait)
    return sorted(str(task.get_coro()) for task in stuck)


@pytest.fixture(autouse=True)
async def _no_task_left_running() -> AsyncIterator[None]:
    """Every test shares one event loop, so a task of ours a test leaves running would go on
    in the tests after it, writing to their logs and servers. Those left (a test server's
    connection handler, an outbox batch not yet due) are cancelled here; one that goes on
    5 s after that (it lost its cancellation, as a sender once did) fails the test."""
    before = asyncio.all_tasks()
    yield
    stuck = await cancel_left(before)
    if stuck:
        pytest.fail(f"{len(stuck)} task(s) left by the test ignore their cancellation: {stuck}")


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
        "health_port": 0,  # any free port: tests run many services side by side
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


LAYERS = ("unit", "store", "broker", "e2e")
_BROKER_FIXTURES = {"rabbitmq_url", "rabbitmq_base_url"}
_STORE_FIXTURES = {"mongo_url"}
_spent: dict[str, float] = defaultdict(float)
_counted: dict[str, int] = defaultdict(int)


def layer_of(item: pytest.Item) -> str:
    for layer in ("e2e", "broker", "store"):
        if item.get_closest_marker(layer) is not None:
            return layer
    return "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the servers its fixtures need (a marker it lacks is added)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & _BROKER_FIXTURES and layer_of(item) in ("unit", "store"):
            item.add_marker(pytest.mark.broker)
        elif fixtures & _STORE_FIXTURES and layer_of(item) == "unit":
            item.add_marker(pytest.mark.store)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    started = time.perf_counter()
    yield
    layer = layer_of(item)
    _spent[layer] += time.perf_counter() - started
    _counted[layer] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _counted:
        return
    terminalreporter.section("time per layer")
    for layer in LAYERS:
        if _counted[layer]:
            terminalreporter.write_line(
                f"{layer:<7} {_counted[layer]:>4} tests  {_spent[layer]:>7.1f} s"
            )
