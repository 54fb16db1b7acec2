"""The suite's own RabbitMQ node: started, stopped, broken and killed by its name only.

The node runs from the installed RabbitMQ scripts with everything of its own under the
run's work directory: node name ``meter-faults-<pid>@localhost``, free AMQP, distribution
and management ports, data (``RABBITMQ_MNESIA_BASE``), logs, plugins file, configuration,
Erlang cookie (``HOME``) and an empty ``rabbitmq-env.conf`` so the machine's
``/etc/rabbitmq`` settings (its node name) do not apply. The machine's own broker is never
addressed: every ``rabbitmqctl`` call names this node, and the only process ever killed is
the one whose id this node wrote in its own pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from faults.procs import free_port, pid_alive, run_command, until

START_TIMEOUT = 120.0
# Like the machine's broker: RabbitMQ's defaults, so 10 MB bodies reach the services (the
# deployed configuration refuses bodies over 128 KiB at the broker already).
# Statistics every second: readiness (consumers per queue) is seen without delay.
CONFIG = """\
collect_statistics_interval = 1000
management.tcp.ip = 127.0.0.1
management.tcp.port = {management_port}
"""


def rabbitmq_scripts() -> Path:
    """The directory of the real ``rabbitmq-server`` and ``rabbitmqctl`` scripts.

    Debian's ``/usr/sbin`` entries point at a wrapper that switches to the ``rabbitmq``
    user with the system's cookie; the scripts beside it run as the caller.
    """
    found = shutil.which("rabbitmq-server") or "/usr/lib/rabbitmq/bin/rabbitmq-server"
    real = Path(os.path.realpath(found))
    if not real.exists():
        raise RuntimeError("rabbitmq-server is not installed (the fault suite starts its own node)")
    return real.parent


@dataclass
class RabbitNode:
    workdir: Path
    name: str = ""
    amqp_port: int = 0
    dist_port: int = 0
    management_port: int = 0

    def __post_init__(self) -> None:
        self.name = self.name or f"meter-faults-{os.getpid()}@localhost"
        self.amqp_port = self.amqp_port or free_port()
        self.dist_port = self.dist_port or free_port()
        self.management_port = self.management_port or free_port()
        self.scripts = rabbitmq_scripts()
        self.pid_file = self.workdir / "rabbit.pid"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.management_port}/api"

    def env(self) -> dict[str, str]:
        home = self.workdir / "home"
        return {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_CONF_ENV_FILE": str(self.workdir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.workdir / "plugins-expand"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def prepare(self) -> None:
        for sub in ("home", "mnesia", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "node.name").write_text(self.name)
        cookie = self.workdir / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(os.urandom(16).hex().upper())
            cookie.chmod(0o400)
        (self.workdir / "rabbitmq-env.conf").write_text("")
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (self.workdir / "rabbitmq.conf").write_text(
            CONFIG.format(management_port=self.management_port)
        )

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    async def ctl(self, *args: str, within: float = 120.0) -> str:
        return await run_command(
            [str(self.scripts / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env(),
            within=within,
        )

    async def start(self) -> None:
        """Start the node (again, on the same data) and wait until it serves clients."""
        self.prepare()
        self.pid_file.unlink(missing_ok=True)
        await run_command(
            [str(self.scripts / "rabbitmq-server"), "-detached"], env=self.env(), within=60
        )
        deadline = time.monotonic() + START_TIMEOUT
        while (pid := self.pid()) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} wrote no pid file; see {self.workdir}/log")
            await asyncio.sleep(0.2)
        await self.ctl("wait", "--pid", str(pid), "--timeout", str(int(START_TIMEOUT)))
        await self.await_api()

    async def await_api(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                await self.get("overview")
                return
            except (httpx.HTTPError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def stop_app(self) -> None:
        await self.ctl("stop_app")

    async def start_app(self) -> None:
        await self.ctl("start_app")

    async def kill(self) -> None:
        """SIGKILL this node's own beam process (the pid it wrote), as a crash would."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        await until(lambda: not pid_alive(pid), within=60)

    async def stop(self) -> None:
        """Stop the node by its name; kill its own process if it does not stop."""
        pid = self.pid()
        if pid is None or not pid_alive(pid):
            return
        with contextlib.suppress(RuntimeError, TimeoutError):
            await self.ctl("stop", within=60)
        if not await until(lambda: not pid_alive(pid), within=30):
            os.kill(pid, signal.SIGKILL)

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(auth=("guest", "guest"), timeout=10) as client:
            answer = await client.get(f"{self.api}/{path}")
            answer.raise_for_status()
            return answer.json()

    async def queues(self) -> list[dict[str, Any]]:
        columns = "name,consumers,messages,messages_ready,messages_unacknowledged"
        found = await self.get(f"queues/%2F?columns={columns}")
        return list(found)

    async def delete_queue(self, name: str) -> None:
        quoted = urllib.parse.quote(name, safe="")
        async with httpx.AsyncClient(auth=("guest", "guest"), timeout=10) as client:
            await client.delete(f"{self.api}/queues/%2F/{quoted}")
