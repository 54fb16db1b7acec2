"""Every service serves /health, /ready and /metrics; readiness follows the broker
connection, the consumers and the database (the real broker, services in-process)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from faststream import FastStream
from prometheus_client.parser import text_string_to_metric_families

from services.dispatcher.main import create_app as dispatcher_app
from services.dispatcher.settings import DispatcherSettings
from services.intake.main import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier.main import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.status.main import create_app as status_app
from services.status.settings import StatusSettings
from tests.intake.fakes import MemoryIntakeStore
from tests.intake.test_registration import submission
from tests.support.amqp import Portal, drain
from tests.support.infra import VhostAdmin, free_port

pytestmark = pytest.mark.broker


def build(service: str, values: dict[str, Any]) -> FastStream:
    """One service's app as ``python -m services.<service>`` builds it."""
    if service == "intake":
        return intake_app(IntakeSettings(**values), configure_logging=False)
    if service == "dispatcher":
        return dispatcher_app(DispatcherSettings(**values), configure_logging=False)
    if service == "notifier":
        settings = NotifierSettings(**values, sms_gateway_url="http://127.0.0.1:9/messages")
        return notifier_app(settings, configure_logging=False)
    settings = StatusSettings(**values, http_port=free_port(), api_keys=frozenset({"k"}))
    return status_app(settings, configure_logging=False)


@asynccontextmanager
async def serving(app: FastStream, port: int) -> AsyncIterator[httpx.AsyncClient]:
    await app.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        await app.stop()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := await check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.1)
    return result


@pytest.mark.parametrize("service", ["intake", "dispatcher", "notifier", "status"])
async def test_every_service_is_alive_ready_and_exposes_its_metrics(
    service: str, settings_values: dict[str, Any]
) -> None:
    port = free_port()
    async with serving(build(service, {**settings_values, "health_port": port}), port) as http:
        alive = await http.get("/health")
        assert alive.status_code == 200
        assert alive.json() == {"service": service, "alive": True}

        ready = await http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"broker": "ok", "consumers": "ok", "database": "ok"}

        metrics = await http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        found = samples(metrics.text)
    assert value(found, "meter_outbox_backlog", service=service) == 0
    by_command = {
        dict(labels)["command"]: count
        for (name, labels), count in found.items()
        if name == "meter_db_commands_total" and dict(labels)["service"] == service
    }
    commands = sum(by_command.values())
    assert commands > 0
    assert all(by_command), by_command  # each counted under a command name
    # Round trips answered are timed (some may still be on their way).
    answered = value(found, "meter_db_command_seconds_count", service=service) or 0
    assert 0 < answered <= commands
    assert (value(found, "meter_db_command_seconds_sum", service=service) or 0) > 0
    own = {  # each service's gauges of its own database, new and empty here
        "intake": ("meter_intake_numbers_left", 999_999),
        "dispatcher": ("meter_dispatcher_work_orders_waiting", 0),
        "notifier": ("meter_notifier_jobs_due", 0),
    }
    if service in own:
        name, expected = own[service]
        assert value(found, name) == expected


async def test_messages_are_counted_by_queue_and_outcome_with_their_handling_time(
    settings_values: dict[str, Any], rabbitmq_url: str
) -> None:
    port = free_port()
    app = intake_app(
        IntakeSettings(**settings_values | {"health_port": port}),
        store=MemoryIntakeStore(),
        configure_logging=False,
    )
    async with serving(app, port) as http, Portal(rabbitmq_url) as portal:
        reasons = await portal.request("intake.list_reasons", {"language": "az"})
        assert "reasons" in reasons.body
        malformed = await portal.request("intake.list_reasons", b"{not json")
        assert malformed.codes() == ["malformed_message"]
        anonymous = await portal.request("intake.list_reasons", {"language": "az"}, user_id=None)
        assert anonymous.outcome == "refused"

        queue = {"service": "intake", "queue": "intake.list_reasons"}
        # A delivery is counted once settled: after its reply, and for the malformed one
        # after it is parked too, which may finish after the next reply.
        for _ in range(100):
            found = samples((await http.get("/metrics")).text)
            if value(found, "meter_messages_total", **queue, outcome="malformed"):
                break
            await asyncio.sleep(0.1)

    assert value(found, "meter_messages_total", **queue, outcome="handled") == 1
    assert value(found, "meter_messages_total", **queue, outcome="malformed") == 1
    assert value(found, "meter_messages_total", **queue, outcome="refused") == 1
    # The malformed body never reached a handler; the other two did.
    assert value(found, "meter_handler_seconds_count", **queue) == 2


class BrokenAccounts(MemoryIntakeStore):
    """A store whose subscriber lookups fail with an error of the message's own."""

    async def account(self, subscriber_code: str) -> Any:
        raise RuntimeError("a bug in the store")


async def test_a_message_failing_on_its_own_is_counted_retried_then_parked(
    settings_values: dict[str, Any], rabbitmq_url: str
) -> None:
    port = free_port()
    settings = IntakeSettings(**settings_values | {"health_port": port, "retry_base_delay": 0.01})
    app = intake_app(settings, store=BrokenAccounts(), configure_logging=False)
    async with serving(app, port) as http, Portal(rabbitmq_url) as portal:
        await portal.send("intake.submit_application", submission(), reply=False)
        [parked] = await until(lambda: drain(rabbitmq_url, "intake.submit_application.dlq"))
        assert "a bug in the store" in str(parked.headers["x-error"])
        found = samples((await http.get("/metrics")).text)

    queue = {"service": "intake", "queue": "intake.submit_application"}
    assert value(found, "meter_messages_total", **queue, outcome="retried") == 4
    assert value(found, "meter_messages_total", **queue, outcome="parked") == 1
    assert value(found, "meter_messages_total", **queue, outcome="handled") is None


async def test_readiness_turns_false_while_the_broker_connection_is_down_and_true_after(
    settings_values: dict[str, Any], rabbitmq_base_url: str, rabbitmq_url: str
) -> None:
    admin = VhostAdmin(rabbitmq_base_url)
    vhost = urllib.parse.urlsplit(rabbitmq_url).path.lstrip("/")
    permission = f"permissions/{vhost}/{urllib.parse.quote(admin.user, safe='')}"
    port = free_port()
    app = intake_app(
        IntakeSettings(**settings_values | {"health_port": port}),
        store=MemoryIntakeStore(),
        configure_logging=False,
    )
    async with serving(app, port) as http:
        assert (await http.get("/ready")).status_code == 200
        await until(lambda: asyncio.to_thread(admin.get, f"vhosts/{vhost}/connections"))
        # Without permissions every reconnection is refused: the outage lasts until restored.
        admin._call("DELETE", permission)
        try:
            assert admin.close_connections(rabbitmq_url) >= 1

            async def not_ready() -> Any:
                answer = await http.get("/ready")
                return answer if answer.status_code == 503 else None

            down = (await until(not_ready)).json()
            assert down["ready"] is False
            assert down["checks"]["broker"].startswith("connection to amqp://")
            assert down["checks"]["database"] == "ok"
            assert (await http.get("/health")).status_code == 200
        finally:
            admin._call("PUT", permission, {"configure": ".*", "write": ".*", "read": ".*"})

        async def ready_again() -> bool:
            return (await http.get("/ready")).status_code == 200

        await until(ready_again)
        body = (await http.get("/ready")).json()
        assert body["checks"] == {"broker": "ok", "consumers": "ok", "database": "ok"}


async def test_readiness_names_the_database_when_it_does_not_answer(
    settings_values: dict[str, Any],
) -> None:
    port = free_port()
    nowhere = f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
    app = intake_app(
        IntakeSettings(**settings_values | {"health_port": port, "mongo_url": nowhere}),
        store=MemoryIntakeStore(),
        configure_logging=False,
    )
    async with serving(app, port) as http:
        answer = await http.get("/ready")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["broker"] == "ok"
    assert checks["consumers"] == "ok"
    assert checks["database"].startswith("no answer to ping")


async def test_a_delivery_is_handled_on_the_event_loop_without_a_thread_hop(
    settings_values: dict[str, Any], rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastStream resolves a synchronous context field (the delivery itself) in a thread
    pool; the services' field is resolved on the loop, so no message costs a thread hop."""
    import anyio.to_thread

    hops: list[Any] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "func", func))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    port = free_port()
    app = intake_app(
        IntakeSettings(**settings_values | {"health_port": port}),
        store=MemoryIntakeStore(),
        configure_logging=False,
    )
    async with serving(app, port), Portal(rabbitmq_url) as portal:
        for _ in range(5):
            reasons = await portal.request("intake.list_reasons", {"language": "az"})
            assert "reasons" in reasons.body
    assert hops == []
