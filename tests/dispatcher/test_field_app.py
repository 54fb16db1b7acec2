"""``examples/field_app.py`` as a field team runs it: a process of its own.

It follows its teams' keys on ``meter.field`` through its own durable queue, reports with
its ``user_id``, and answers every failure with one line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from services.dispatcher.main import create_app
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from tests.dispatcher.conftest import MovableClock, given, publish_registered, registered, team
from tests.security.deployment import Deployment, applied
from tests.support.amqp import EventLog

FIELD_APP = Path(__file__).resolve().parents[2] / "examples" / "field_app.py"


ORDERS = Path(tempfile.mkdtemp(prefix="field-app-")) / "orders.json"


def environment(url: str, **extra: str) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return {**keep, "RABBITMQ_URL": url, "FIELD_APP_ORDERS": str(ORDERS), **extra}


async def field_app(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(FIELD_APP),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Following:
    """``field_app.py follow TEAMS`` running; ``next()`` is the next work order it prints."""

    def __init__(self, env: dict[str, str], *teams: str) -> None:
        self.env, self.teams = env, teams

    async def __aenter__(self) -> Following:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(FIELD_APP),
            "follow",
            *self.teams,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        banner = await self.line()
        assert banner.startswith("following "), banner
        return self

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 30)
        if not raw:
            assert self.process.stderr is not None
            raise AssertionError(f"follow ended: {(await self.process.stderr.read()).decode()}")
        return raw.decode().rstrip("\n")

    async def next(self) -> tuple[dict[str, Any], str]:
        order = json.loads(await self.line())
        return order, await self.line()

    async def __aexit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.process.wait(), 30)


# --- failures: one line, a non-zero exit ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "required: command"),
        (("follow",), "required: TEAM"),
        (("report", "SQ-2026-000001", "WO-1", "T-01", "done"), "expected NUMBER [WORK_ORDER"),
        (("report", "SQ-2026-000001"), "expected NUMBER [WORK_ORDER TEAM] OUTCOME"),
        (("report", "SQ-2026-000001", "installed", "why"), "REASON must be one of"),
        (("--timeout", "soon", "follow", "T-01"), "invalid float value"),
    ],
)
async def test_a_wrong_argument_is_one_line_and_exit_2(
    args: tuple[str, ...], expected: str
) -> None:
    code, out, err = await field_app(environment("amqp://guest:guest@127.0.0.1:1/"), *args)
    assert code == 2
    assert (out, err.count("\n")) == ("", 1)
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "command", [("follow", "T-01"), ("report", "SQ-1", "WO-1", "T-01", "installed")]
)
async def test_no_broker_is_one_line_and_a_non_zero_exit(command: tuple[str, ...]) -> None:
    code, out, err = await field_app(environment("amqp://guest:guest@127.0.0.1:1/"), *command)
    assert code == 1
    assert err.startswith("field_app: cannot connect to the broker at amqp://127.0.0.1:1/")
    assert (out, err.count("\n")) == ("", 1), "one line, and no password in it"


async def test_another_user_without_a_password_is_one_line() -> None:
    env = environment("amqp://guest:guest@127.0.0.1:1/", FIELD_APP_USER="field-baku")
    code, _, err = await field_app(env, "follow", "T-01")
    assert (code, err) == (
        1,
        "field_app: FIELD_APP_USER=field-baku needs FIELD_APP_PASSWORD, the user's password\n",
    )


async def test_no_reply_in_time_is_one_line(rabbitmq_url: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:  # the exchange exists, but no dispatcher consumes
        channel = await connection.channel()
        await channel.declare_exchange("meter.commands", aio_pika.ExchangeType.TOPIC, durable=True)
    args = ("--timeout", "1", "report", "SQ-2026-000001", "WO-1", "T-01", "installed")
    code, out, err = await field_app(environment(rabbitmq_url), *args)
    assert (code, out) == (1, "")
    assert err == "field_app: no reply within 1 s: is the dispatcher running?\n"


async def test_a_system_not_started_in_the_vhost_is_one_line(rabbitmq_url: str) -> None:
    code, _, err = await field_app(environment(rabbitmq_url), "follow", "T-01")
    assert code == 1
    assert err.count("\n") == 1
    assert "no exchange 'meter.field'" in err


# --- the journey: follow, then report ---------------------------------------------------


async def test_the_field_app_follows_its_team_and_reports_the_work_order(
    dispatcher: Any, store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 2})
    env = environment(rabbitmq_url)
    async with Following(env, "T-01") as following:
        await publish_registered(rabbitmq_url, registered("BAK-YAS"))  # T-02's: not shown
        body = registered("BAK-NAS")
        await publish_registered(rabbitmq_url, body)
        order, hint = await following.next()

    assert order["application_number"] == body["application_number"]
    assert (order["team_id"], order["phone"]) == ("T-01", "+994501234567")
    assert "applicant_fin" not in order
    assert "email" not in order
    number, work_order = order["application_number"], order["work_order_id"]
    assert work_order.startswith("WO-")
    assert hint == f'  report: make field-app ARGS="report {number} installed"'

    # The work order it followed is remembered: the application number is enough.
    code, out, err = await field_app(env, "report", number, "installed")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"outcome": "accepted"}
    [completed] = await events.wait_for("application.completed")
    assert completed["act"]["act_number"] == "AKT-" + number.removeprefix("SQ-")


async def test_work_orders_assigned_while_it_was_not_running_are_printed_next_time(
    dispatcher: Any, store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    env = environment(rabbitmq_url)
    async with Following(env, "T-01"):
        pass  # its durable queue field.guest.orders now holds T-01's key
    body = registered("BAK-NAS")
    await publish_registered(rabbitmq_url, body)
    await events.wait_for("application.assigned")

    async with Following(env, "T-01") as following:
        order, _ = await following.next()
    assert order["application_number"] == body["application_number"]


async def test_a_refused_report_is_printed_and_exits_1(
    dispatcher: Any, store: MongoDispatcherStore, events: EventLog, rabbitmq_url: str
) -> None:
    args = ("report", "SQ-2026-999999", "WO-0000000000000000", "T-01", "installed")
    code, out, err = await field_app(environment(rabbitmq_url), *args)
    assert (code, err) == (1, "")
    assert [e["code"] for e in json.loads(out)["errors"]] == ["unknown_work_order"]


# --- as a deployed field-app user -------------------------------------------------------


@pytest.fixture
def deployment(rabbitmq_url: str, tmp_path: Path) -> Any:
    with applied(rabbitmq_url, tmp_path) as found:
        yield found


@pytest.fixture
async def deployed_dispatcher(
    deployment: Deployment,
    dispatcher_settings: DispatcherSettings,
    dispatcher_db: Any,
    run_app: Any,
    clock: MovableClock,
) -> AsyncIterator[Any]:
    """The dispatcher knowing the deployment's field-app users and their teams."""
    roles = deployment.sender_settings()
    settings = dispatcher_settings.model_copy(update={"field_users": roles["field_users"]})
    async with run_app(create_app(settings, configure_logging=False, clock=clock)) as app:
        yield app


async def test_a_deployed_field_user_follows_its_own_teams_and_reports_as_itself(
    deployment: Deployment,
    deployed_dispatcher: Any,
    store: MongoDispatcherStore,
    rabbitmq_url: str,
) -> None:
    user = deployment.name("field-baku")  # teams T-01, T-02, T-03
    env = environment(
        rabbitmq_url, FIELD_APP_USER=user, FIELD_APP_PASSWORD=deployment.passwords[user]
    )
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 2})
    async with EventLog(rabbitmq_url, patterns=("application.*",)) as events:
        async with Following(env, "T-01", "T-03") as following:
            body = registered("BAK-NAS")
            await publish_registered(rabbitmq_url, body)
            order, _ = await following.next()
        args = ("report", order["application_number"], order["work_order_id"], "T-01", "installed")
        code, out, _ = await field_app(env, *args)
        assert (code, json.loads(out)) == (0, {"outcome": "accepted"})
        await events.wait_for("application.completed")

    code, _, err = await field_app(env, "follow", "T-04")  # field-regions' team
    assert code == 1
    assert err.count("\n") == 1
    assert "access to topic 'team.T-04'" in err
