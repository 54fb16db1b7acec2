"""The whole system as separate processes, as ``make run`` starts it, with any number of
replicas per service: each replica is ``python -m services.<name>`` with its own health port
(and status HTTP port), all sharing the databases (``DATABASE_PREFIX``) and the broker.

Reference data for ``applications`` applications: one subscriber code each, two districts
with a field team of ample capacity each, and stock for every application plus ``SPARE``,
loaded with meterctl while the services start (each declares its own topology).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.infra import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "dispatcher", "notifier", "status")
DISTRICTS = {"SC-NORTH": "T-N1", "SC-SOUTH": "T-S1"}
SPARE = 5


def subscriber_code(index: int) -> str:
    return f"{7_000_000 + index}"


def district_of(index: int) -> str:
    return list(DISTRICTS)[index % len(DISTRICTS)]


@dataclass
class System:
    """Processes of one run under ``root``; ``stop`` ends every one of them."""

    root: Path
    env: dict[str, str]
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    health: dict[str, int] = field(default_factory=dict)  # replica name -> health port
    began: float = field(default_factory=time.monotonic)

    @classmethod
    def create(cls, root: Path, rabbitmq_url: str, mongo_url: str, prefix: str) -> System:
        env = {
            **os.environ,
            "RABBITMQ_URL": rabbitmq_url,
            "MONGO_URL": mongo_url,
            "DATABASE_PREFIX": prefix,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            "GRACEFUL_TIMEOUT": "5",
            "STATUS_API_KEYS": "scale-key",
        }
        return cls(root, env)

    def spawn(self, name: str, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**self.env, **extra},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append((name, process))
        return process

    def meterctl(self, *commands: list[str], **extra: str) -> None:
        """Run meterctl commands one after the other, in one process (one start-up)."""
        script = (
            "import sys\nfrom meterctl.__main__ import main\n"
            f"for command in {commands!r}:\n"
            "    if main(command):\n        sys.exit(f'meterctl {command} failed')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"

    def load_reference_data(self, applications: int, **extra: str) -> None:
        subscribers = self.root / "subscribers.csv"
        rows = [
            f'{subscriber_code(i)},{i % 10}SCL{i % 1000:03d},"Bakı, küç. {i}",{district_of(i)},'
            for i in range(applications)
        ]
        header = "subscriber_code,applicant_fin,address,district_code,active_meter_serials"
        subscribers.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
        teams = self.root / "teams.csv"
        lines = [f"{team},Briqada {team},{district},100000" for district, team in DISTRICTS.items()]
        header = "team_id,name,district_codes,daily_capacity"
        teams.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
        commands = [["subscribers", "import", str(subscribers)], ["teams", "import", str(teams)]]
        for district in DISTRICTS:
            needed = sum(1 for i in range(applications) if district_of(i) == district)
            commands.append(["stock", "receive", district, str(needed + SPARE)])
        self.meterctl(*commands, **extra)

    def start_sinks(self) -> None:
        mail, sms = free_port(), free_port()
        self.spawn("mail-sink", "-m", "devtools.sinks", "mail", str(mail), str(self.mail_dir))
        self.spawn("sms-sink", "-m", "devtools.sinks", "sms", str(sms), str(self.sms_dir))
        wait_for_port("127.0.0.1", mail)
        wait_for_port("127.0.0.1", sms)
        self.env.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mail),
            SMS_GATEWAY_URL=f"http://127.0.0.1:{sms}/messages",
        )

    @property
    def mail_dir(self) -> Path:
        return self.root / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.root / "sms"

    def start_services(self, replicas: int) -> None:
        for service in SERVICES:
            for replica in range(1, replicas + 1):
                name = f"{service}-{replica}"
                self.health[name] = free_port()
                extra = {"HEALTH_PORT": str(self.health[name])}
                if service == "status":
                    extra["STATUS_HTTP_PORT"] = str(free_port())
                self.spawn(name, "-m", f"services.{service}", **extra)

    async def wait_ready(self, timeout: float = 120.0) -> None:
        """Until every replica answers ``GET /ready`` with 200."""
        deadline = time.monotonic() + timeout
        waiting = dict(self.health)
        while waiting:
            self.check_alive()
            for name, port in list(waiting.items()):
                if await asyncio.to_thread(ready, port):
                    del waiting[name]
            assert time.monotonic() < deadline, f"not ready after {timeout}s: {sorted(waiting)}"
            await asyncio.sleep(0.3)

    def check_alive(self) -> None:
        for name, process in self.processes:
            code = process.poll()
            if code is not None:
                tail = (self.root / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name} exited with {code}:\n{tail}")

    def metrics(self, name: str) -> str:
        url = f"http://127.0.0.1:{self.health[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            return str(answer.read().decode())

    def stop(self) -> None:
        """Services first (they finish in-flight work), then the sinks."""
        groups = [
            [(n, p) for n, p in self.processes if not n.endswith("-sink")],
            [(n, p) for n, p in self.processes if n.endswith("-sink")],
        ]
        for group in groups:
            for _name, process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for _name, process in group:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=3):
            return True
    except (urllib.error.URLError, OSError):
        return False
