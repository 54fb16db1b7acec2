"""The system under test, as ``make run`` runs it, on infrastructure the suite can break.

- RabbitMQ: the suite's own node (``faults.broker``), never the machine's broker;
- MongoDB: the embedded ``nx-27017`` with a data directory (a restart keeps the data),
  reached through a latency proxy (``faults.proxy``) that can make every handler slow;
- e-mail and SMS: the development sinks (``devtools.sinks``), stopped for "down" and
  given an answer delay for "slow";
- the topology and reference data through ``meterctl``, then the four services, each
  ``python -m services.<name>`` with its log in ``<workdir>/logs``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from faults import people
from faults.broker import RabbitNode
from faults.procs import PYTHON, Children, free_port, pid_alive, run_command, say, wait_port
from shared.topology import ALL_QUEUES

SERVICES = ("intake", "dispatcher", "notifier", "status")
API_KEY = "faults-key"
READY_TIMEOUT = 120.0
# The notifier retries a provider after 2 s, doubling to at most 15 s (defaults: 10 s to
# 30 min), so "seconds to recover" after a provider outage measures the system, not a
# long pause chosen for production.
SUITE_SETTINGS = {"NOTIFY_RETRY_BASE": "2", "NOTIFY_RETRY_CAP": "15", "LOG_FORMAT": "json"}


@dataclass
class System:
    workdir: Path
    initial_stock: int
    node: RabbitNode = field(init=False)
    children: Children = field(init=False)

    def __post_init__(self) -> None:
        self.node = RabbitNode(self.workdir / "rabbit")
        self.children = Children(self.workdir / "logs")
        self.mongo_port, self.proxy_port = free_port(), free_port()
        self.mail_port, self.sms_port, self.http_port = free_port(), free_port(), free_port()
        self.mail_dir, self.sms_dir = self.workdir / "mail", self.workdir / "sms"
        self.health_ports = {name: free_port() for name in SERVICES}
        self.delay_files = {
            kind: self.workdir / f"{kind}-delay" for kind in ("mongo", "mail", "sms")
        }

    # --- environment --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "MONGO_", "SMTP_", "SMS_", "STATUS_", "NOTIFY_"))
        }
        env.update(SUITE_SETTINGS)
        env.update(
            RABBITMQ_URL=self.node.url,
            MONGO_URL=f"mongodb://127.0.0.1:{self.proxy_port}/?directConnection=true",
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(self.mail_port),
            SMS_GATEWAY_URL=f"http://127.0.0.1:{self.sms_port}/messages",
            STATUS_HTTP_PORT=str(self.http_port),
            STATUS_API_KEYS=API_KEY,
            PYTHONUNBUFFERED="1",
        )
        return env

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # --- start and stop -----------------------------------------------------------------

    async def start(self, applicants: list[people.Applicant]) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for path in self.delay_files.values():
            path.write_text("0")
        await self.node.start()
        say(
            f"RabbitMQ node {self.node.name} on port {self.node.amqp_port} "
            f"(management {self.node.management_port}) in {loop.time() - began:.0f} s"
        )
        await self.start_mongo()
        await self.start_proxy()
        await self.start_sink("mail")
        await self.start_sink("sms")
        await self.load_data(applicants)
        say(f"database, sinks, {len(applicants)} subscribers at {loop.time() - began:.0f} s")
        for name in SERVICES:
            await self.start_service(name)
        await self.wait_ready()
        say(f"services ready at {loop.time() - began:.0f} s; logs in {self.children.logs}")

    async def start_mongo(self) -> None:
        data = self.workdir / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        executable = str(Path(PYTHON).with_name("nx-27017"))
        args = [executable, "--host", "127.0.0.1", "-p", str(self.mongo_port)]
        args += ["--data-dir", str(data), "--log-file", str(self.workdir / "logs" / "nx.log")]
        args += ["--pid-file", str(self.workdir / "nx.pid")]
        await self.children.start("mongo", args, self.env())
        await wait_port(self.mongo_port, "the MongoDB-compatible server")

    async def start_proxy(self) -> None:
        proxy = [PYTHON, "-m", "faults.proxy", str(self.proxy_port), str(self.mongo_port)]
        proxy += ["--delay-file", str(self.delay_files["mongo"])]
        await self.children.start("proxy", proxy, self.env())
        await wait_port(self.proxy_port, "the MongoDB latency proxy")

    async def repair(self) -> list[str]:
        """Start again whatever is not running (after a scenario that failed midway)."""
        repaired = []
        pid = self.node.pid()
        if pid is None or not pid_alive(pid):
            await self.node.start()
            repaired.append("rabbitmq")
        starters = {"mongo": self.start_mongo, "proxy": self.start_proxy}
        starters |= {f"{kind}-sink": partial(self.start_sink, kind) for kind in ("mail", "sms")}
        starters |= {name: partial(self.start_service, name) for name in SERVICES}
        for name, start in starters.items():
            if not self.children.is_running(name):
                await start()
                repaired.append(name)
        for kind in self.delay_files:
            self.set_delay(kind, 0)
        return repaired

    async def start_sink(self, kind: str) -> None:
        port = self.mail_port if kind == "mail" else self.sms_port
        directory = self.mail_dir if kind == "mail" else self.sms_dir
        args = [PYTHON, "-m", "devtools.sinks", kind, str(port), str(directory)]
        args += ["--delay-file", str(self.delay_files[kind])]
        await self.children.start(f"{kind}-sink", args, self.env())
        await wait_port(port, f"the {kind} sink")

    async def start_service(self, name: str) -> None:
        env = {**self.env(), "HEALTH_PORT": str(self.health_ports[name])}
        await self.children.start(name, [PYTHON, "-m", f"services.{name}"], env)

    async def meterctl(self, *args: str) -> str:
        return await run_command([PYTHON, "-m", "meterctl", *args], env=self.env(), within=300)

    async def load_data(self, applicants: list[people.Applicant]) -> None:
        await self.meterctl("topology", "declare")
        subscribers = self.workdir / "subscribers.csv"
        subscribers.write_text(people.subscribers_csv(applicants), encoding="utf-8")
        teams = self.workdir / "teams.csv"
        teams.write_text(people.teams_csv(), encoding="utf-8")
        await self.meterctl("subscribers", "import", str(subscribers))
        await self.meterctl("teams", "import", str(teams))
        await self.meterctl(
            "stock", "receive", people.DISTRICT, str(self.initial_stock), "--receipt", "faults-0"
        )

    async def close(self) -> None:
        """Services first (they finish in-flight work), then sinks, proxy, database, node."""
        await self.children.stop_all([name for name in SERVICES if name in self.children.running])
        await self.children.stop_all()
        await self.node.stop()

    # --- readiness ----------------------------------------------------------------------

    async def consumers(self) -> dict[str, int]:
        try:
            return {queue["name"]: queue.get("consumers", 0) for queue in await self.node.queues()}
        except (httpx.HTTPError, OSError):
            return {}

    async def http_answers(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=3) as client:
                await client.get(f"{self.http}/v1/applications")
        except httpx.HTTPError:
            return False
        return True

    async def wait_ready(self, within: float = READY_TIMEOUT) -> float:
        """Until every work queue has a consumer and the status API answers; seconds taken."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        missing: list[str] = []
        while loop.time() - started < within:
            crashed = {n: c for n, c in self.children.exited().items() if n in SERVICES}
            if crashed:
                raise RuntimeError(f"services exited: {crashed}; see {self.children.logs}")
            counts = await self.consumers()
            missing = [queue.name for queue in ALL_QUEUES if not counts.get(queue.name)]
            if not missing and await self.http_answers():
                return loop.time() - started
            await asyncio.sleep(0.5)
        raise RuntimeError(f"not ready after {within:.0f}s; no consumer on {missing}")

    async def parked(self) -> dict[str, int]:
        """Messages in every parking queue (``.dlq``) and in ``meter.unroutable``."""
        found = await self.node.queues()
        return {
            queue["name"]: int(queue.get("messages") or 0)
            for queue in found
            if queue["name"].endswith(".dlq") or queue["name"] == "meter.unroutable"
        }

    def set_delay(self, kind: str, seconds: float) -> None:
        self.delay_files[kind].write_text(str(seconds))
