"""``examples/portal.py`` as a portal runs it: a process of its own, speaking only AMQP.

Every command it sends is one the contract accepts; ``watch`` prints each update of its
channel live, as one line; every failure is one line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aio_pika
import pytest

from shared.contracts.reading import Refusal, read_command
from shared.contracts.registry import COMMANDS
from tests.security.deployment import Deployment, applied
from tests.status.conftest import steps
from tests.status.events import DUE_BY, FIN, EventPublisher, journey, overdue, registered

PORTAL = Path(__file__).resolve().parents[2] / "examples" / "portal.py"
NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("portal_example", PORTAL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment(url: str, **extra: str) -> dict[str, str]:
    keep = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    return {**keep, "RABBITMQ_URL": url, **extra}


async def portal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PORTAL),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


class Watching:
    """``portal.py watch [CHANNEL]`` running; ``line()`` is the next line it prints."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env, self.args = env, args

    async def __aenter__(self) -> Watching:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PORTAL),
            "watch",
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        banner = await self.line()
        assert banner.startswith("watching "), banner
        self.banner = banner
        return self

    async def line(self) -> str:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), 30)
        if not raw:
            assert self.process.stderr is not None
            raise AssertionError(f"watch ended: {(await self.process.stderr.read()).decode()}")
        return raw.decode().rstrip("\n")

    async def __aexit__(self, *exc: object) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            await asyncio.wait_for(self.process.wait(), 30)


# --- what it sends ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["reasons", "en"],
        ["accounts", "5abcd12"],
        ["check", FIN, "1000001"],
        ["submit", FIN, "1000001", "new_installation", "050 123 45 67", "me@example.az"],
        [
            *("submit", FIN, "1000002", "replace_faulty", "+994501234567", "me@example.az"),
            *("--additional", "--language", "ru", "--notes", "Zəng edin"),
        ],
        ["status", FIN, "SQ-2026-000001"],
        ["list", FIN],
        ["withdraw", FIN, "SQ-2026-000001", "--language", "en"],
    ],
    ids=lambda argv: argv[0],
)
def test_every_command_it_sends_is_one_the_contract_accepts(argv: list[str]) -> None:
    module = example()
    routing_key, body, message_type = module.call_of(module.parser({}).parse_args(argv))

    read = read_command(COMMANDS[routing_key], body)

    assert not isinstance(read, Refusal), read
    assert message_type == COMMANDS[routing_key].__name__


def test_the_watch_channel_defaults_to_portal_channel_then_e_gov() -> None:
    module = example()

    assert module.parser({}).parse_args(["watch"]).channel == "e-gov"
    assert module.parser({"PORTAL_CHANNEL": "e-su"}).parse_args(["watch"]).channel == "e-su"
    assert module.parser({}).parse_args(["watch", "azersu"]).channel == "azersu"


# --- failures: one line, a non-zero exit ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "required: command"),
        (("status", FIN), "required: number"),
        (("reasons", "fr"), "invalid choice: 'fr'"),
        (("withdraw", FIN, "SQ-2026-000001", "--language", "de"), "invalid choice: 'de'"),
        (("submit", FIN, "1000001"), "required: reason, phone, email"),
        (("--timeout", "soon", "list", FIN), "invalid float value"),
        (("fetch", FIN), "invalid choice: 'fetch'"),
    ],
)
async def test_a_wrong_argument_is_one_line_and_exit_2(
    args: tuple[str, ...], expected: str
) -> None:
    code, out, err = await portal(environment(NO_BROKER), *args)
    assert code == 2
    assert (out, err.count("\n")) == ("", 1)
    assert expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [("watch",), ("list", FIN)])
async def test_no_broker_is_one_line_and_a_non_zero_exit(command: tuple[str, ...]) -> None:
    code, out, err = await portal(environment(NO_BROKER), *command)
    assert code == 1
    assert err.startswith("portal: cannot connect to the broker at amqp://127.0.0.1:1/")
    assert (out, err.count("\n")) == ("", 1), "one line, and no password in it"


async def test_another_user_without_a_password_is_one_line() -> None:
    code, _, err = await portal(environment(NO_BROKER, PORTAL_USER="portal-egov"), "list", FIN)
    assert (code, err) == (
        1,
        "portal: PORTAL_USER=portal-egov needs PORTAL_PASSWORD, the user's password\n",
    )


async def test_no_reply_in_time_is_one_line(rabbitmq_url: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:  # the exchange exists, but no service consumes
        channel = await connection.channel()
        await channel.declare_exchange("meter.commands", aio_pika.ExchangeType.TOPIC, durable=True)
    code, out, err = await portal(environment(rabbitmq_url), "--timeout", "1", "list", FIN)
    assert (code, out) == (1, "")
    assert err == "portal: no reply within 1 s: is the status service running?\n"


async def test_a_system_not_started_in_the_vhost_is_one_line(rabbitmq_url: str) -> None:
    code, _, err = await portal(environment(rabbitmq_url), "watch")
    assert code == 1
    assert err.count("\n") == 1
    assert "no exchange 'meter.portal'" in err


# --- with the status service ------------------------------------------------------------


async def test_watch_prints_each_update_of_its_channel_as_one_line(
    status: Any, producer: EventPublisher, projected: Any, rabbitmq_url: str
) -> None:
    number, elsewhere = "SQ-2026-001101", "SQ-2026-001102"
    async with Watching(environment(rabbitmq_url)) as watching:
        assert watching.banner == "watching e-gov updates as guest (Ctrl-C stops)"
        await producer.publish(
            "application.registered", {**registered(elsewhere), "channel": "e-su"}
        )
        lines = []
        for key, body in journey(number)[:3]:
            await producer.publish(key, body)
            lines.append(await watching.line())
        await producer.publish("application.overdue", overdue(number, sequence=4))
        lines.append(await watching.line())
        await producer.publish("application.completed", {**journey(number)[3][1], "sequence": 5})
        lines.append(await watching.line())

    due = f"(due {DUE_BY})"
    assert lines == [
        f"{number}  registered  Qeydiyyata alındı  on time {due}",
        f"{number}  forwarded  İcraya yönləndirildi  on time {due}",
        f"{number}  assigned  İcraçı təyin edildi  on time {due}",
        f"{number}  assigned  İcraçı təyin edildi  overdue {due}",
        f"{number}  completed  İcra edildi  on time {due}",
    ]


async def test_status_and_list_print_the_reply_and_a_refusal_exits_1(
    status: Any, producer: EventPublisher, projected: Any, rabbitmq_url: str
) -> None:
    number = "SQ-2026-001111"
    await producer.publish("application.registered", registered(number))
    await projected(number, steps(1))
    env = environment(rabbitmq_url)

    code, out, err = await portal(env, "status", FIN, number)
    assert (code, err) == (0, "")
    view = json.loads(out)
    assert (view["status_label"], view["due_by"], view["overdue"]) == (
        "Qeydiyyata alındı",
        DUE_BY,
        False,
    )
    code, out, _ = await portal(env, "list", FIN)
    assert code == 0
    assert [v["application_number"] for v in json.loads(out)["applications"]] == [number]
    code, out, _ = await portal(env, "status", FIN, "SQ-2026-999999")
    assert (code, json.loads(out)) == (1, {"outcome": "not_found"})


# --- as a deployed portal user ----------------------------------------------------------


@pytest.fixture
def deployment(rabbitmq_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with applied(rabbitmq_url, tmp_path) as found:
        yield found


async def test_a_deployed_portal_user_watches_its_own_channel_only(
    deployment: Deployment, rabbitmq_url: str
) -> None:
    user = deployment.name("portal-egov")
    env = environment(rabbitmq_url, PORTAL_USER=user, PORTAL_PASSWORD=deployment.passwords[user])
    async with Watching(env) as watching:
        assert watching.banner == f"watching e-gov updates as {user} (Ctrl-C stops)"

    code, out, err = await portal(env, "watch", "e-su")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith("portal: the broker refused: ACCESS_REFUSED")
    assert "portal.e-su.updates" in err
