"""``make run``: the whole system on one machine, logging to the terminal until Ctrl-C.

- The broker: ``RABBITMQ_URL`` when set (its vhost is used; a broker that does not answer
  stops the run with a clear error), else the local broker in a virtual host of its own,
  ``meter-local`` (created if missing; ``make clean`` deletes it).
- MongoDB: ``MONGO_URL`` when set, else the embedded MongoDB-compatible server with its
  data in ``var/mongo``.
- E-mail and SMS: development sinks writing under ``var/`` when ``SMTP_HOST`` /
  ``SMS_GATEWAY_URL`` are unset.
- The topology and the demo data of ``deploy/demo/`` (unless ``DEMO_DATA=0``), then every
  service as its own process, each with its health port (``HEALTH_PORT``: 9101 to 9104, or
  a free one when taken). "ready" is printed once every service consumes its queues, answers
  ``GET /ready`` with 200 and the status HTTP API answers.
- ``var/run.env`` records where everything runs, for ``make meterctl``, ``make portal``
  and ``make field-app`` in another terminal.
- Ctrl-C (or SIGTERM) stops the services first, then the sinks, then the database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aio_pika

from shared.contracts.registry import Service
from shared.settings import HEALTH_PORTS
from shared.topology import queues_of

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR") or ROOT / "var")
SERVICES = ("intake", "dispatcher", "notifier", "status")
# The local run's own vhost; LOCAL_VHOST renames it (tests use their own).
LOCAL_VHOST = os.environ.get("LOCAL_VHOST") or "meter-local"
READY_TIMEOUT = 90.0


def say(text: str) -> None:
    print(f"[make run] {text}", file=sys.stderr, flush=True)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise SystemExit(f"[make run] {what} did not start on {host}:{port}")
        time.sleep(0.2)


def free_port(preferred: int) -> int:
    if not port_open("127.0.0.1", preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def without_password(url: str) -> str:
    scheme, _, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if at else url


async def _consumers(url: str, queues: list[str]) -> dict[str, int]:
    connection = await aio_pika.connect(url, timeout=5)
    async with connection:
        counts = {}
        for name in queues:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                counts[name] = queue.declaration_result.consumer_count or 0
            except aio_pika.exceptions.ChannelClosed:
                counts[name] = 0
        return counts


def ready(port: int) -> bool:
    """True when the service on ``port`` answers ``GET /ready`` with 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
            return True
    except (urllib.error.HTTPError, OSError):
        return False


def broker_problem(url: str) -> str | None:
    """Why the broker at ``url`` cannot be used, or None when it answers."""

    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=10)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # every way of not answering is reported the same way
        return f"{type(exc).__name__}: {exc}"
    return None


class Supervisor:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.health: dict[str, int] = {}  # each service's /health, /ready, /metrics port
        self.env = dict(os.environ)
        self.env.setdefault("STATUS_API_KEYS", "dev-portal-key")
        self.env.setdefault("STATUS_HTTP_PORT", "8080")

    def spawn(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env={**self.env, **(env or {})}
        )
        self.children.append((name, process))
        return process

    def prepare_broker(self) -> None:
        url = self.env.get("RABBITMQ_URL")
        if not url:
            created = subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "local-vhost"), "create", LOCAL_VHOST],
                capture_output=True,
                text=True,
                check=False,
            )
            if created.returncode != 0:
                raise SystemExit(f"[make run] {created.stderr.strip()}")
            url = created.stdout.strip()
            self.env["RABBITMQ_URL"] = url
        problem = broker_problem(url)
        if problem is not None:
            raise SystemExit(
                f"[make run] the broker at {without_password(url)} does not answer ({problem}); "
                "start it or set RABBITMQ_URL to one that does"
            )
        say(f"broker: {without_password(url)}")

    def start_mongo(self) -> None:
        if self.env.get("MONGO_URL"):
            say(f"using MONGO_URL={without_password(self.env['MONGO_URL'])}")
            return
        port = free_port(27017)
        data = VAR / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        executable = Path(sys.executable).with_name("nx-27017")
        process = subprocess.Popen(
            [
                str(executable),
                "--host",
                "127.0.0.1",
                "-p",
                str(port),
                "--data-dir",
                str(data),
                "--log-file",
                str(VAR / "nx-27017.log"),
                "--pid-file",
                str(VAR / "nx-27017.pid"),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches it only through us, after the services.
            start_new_session=True,
        )
        self.children.append(("mongo", process))
        wait_port("127.0.0.1", port, "the embedded MongoDB-compatible server")
        self.env["MONGO_URL"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        say(f"embedded MongoDB-compatible server (nx-27017) on port {port}, data in var/mongo")

    def start_sinks(self) -> None:
        if not self.env.get("SMTP_HOST"):
            port = free_port(2525)
            self.spawn("mail-sink", "-m", "devtools.sinks", "mail", str(port), str(VAR / "mail"))
            wait_port("127.0.0.1", port, "the development mail sink")
            self.env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
            say(f"development mail sink on port {port}: e-mails land in var/mail/")
        if not self.env.get("SMS_GATEWAY_URL"):
            port = free_port(8025)
            self.spawn("sms-sink", "-m", "devtools.sinks", "sms", str(port), str(VAR / "sms"))
            wait_port("127.0.0.1", port, "the development SMS sink")
            self.env["SMS_GATEWAY_URL"] = f"http://127.0.0.1:{port}/messages"
            say(f"development SMS sink on port {port}: SMS land in var/sms/")

    def meterctl(self, *args: str) -> None:
        # In this process: one interpreter start for all the set-up steps, not one each.
        from meterctl.__main__ import main as meterctl

        if meterctl(list(args), self.env) != 0:
            raise SystemExit(f"[make run] meterctl {' '.join(args)} failed")

    def prepare_data(self) -> None:
        # The whole topology first (status's event archive included): no event predates it.
        self.meterctl("topology", "declare")
        if self.env.get("DEMO_DATA", "1") == "0":
            say("DEMO_DATA=0: no demo data loaded")
            return
        demo = ROOT / "deploy" / "demo"
        self.meterctl("subscribers", "import", str(demo / "subscribers.csv"))
        self.meterctl("teams", "import", str(demo / "teams.csv"))
        for line in (demo / "stock.txt").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                district, quantity = line.split()
                # A fixed receipt id: restarting `make run` does not add the demo stock again.
                receipt = f"demo-{district}-{quantity}"
                self.meterctl("stock", "receive", district, quantity, "--receipt", receipt)

    def start_services(self) -> None:
        port = int(self.env["STATUS_HTTP_PORT"])
        if port and port_open("127.0.0.1", port):
            raise SystemExit(
                f"[make run] port {port} is taken: stop what uses it or set STATUS_HTTP_PORT"
            )
        for service in SERVICES:
            self.health[service] = free_port(HEALTH_PORTS[service])
            health = {"HEALTH_PORT": str(self.health[service])}
            self.spawn(service, "-m", f"services.{service}", env=health)
        say("services: " + ", ".join(SERVICES))
        say(
            "health, readiness and metrics: "
            + ", ".join(f"{name} http://127.0.0.1:{port}" for name, port in self.health.items())
            + " (/health, /ready, /metrics)"
        )

    def write_env(self) -> None:
        names = ("RABBITMQ_URL", "MONGO_URL", "STATUS_HTTP_PORT", "STATUS_API_KEYS")
        VAR.mkdir(parents=True, exist_ok=True)
        lines = [f"export {name}={self.env[name]}" for name in names if self.env.get(name)]
        (VAR / "run.env").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def wait_ready(self) -> None:
        """Until every service consumes all its queues and the status HTTP API answers."""
        queues = [queue.name for service in Service for queue in queues_of(service)]
        deadline = time.monotonic() + READY_TIMEOUT
        missing: list[str] = queues
        while time.monotonic() < deadline:
            self.check_children()
            try:
                counts = asyncio.run(_consumers(self.env["RABBITMQ_URL"], queues))
            except Exception:  # the broker restarts or refuses for a moment: look again
                counts = {}
            missing = [name for name in queues if not counts.get(name)]
            missing += [f"{name} /ready" for name, port in self.health.items() if not ready(port)]
            if not missing and self.http_answers():
                return
            time.sleep(0.5)
        raise SystemExit(f"[make run] not ready after {READY_TIMEOUT:.0f}s; waiting on {missing}")

    def http_answers(self) -> bool:
        url = f"http://127.0.0.1:{self.env['STATUS_HTTP_PORT']}/v1/applications"
        try:
            urllib.request.urlopen(url, timeout=2)
        except urllib.error.HTTPError:
            return True  # 401 without a key: the API is up
        except OSError:
            return False
        return True

    def check_children(self) -> None:
        for name, process in self.children:
            code = process.poll()
            if code is not None:
                raise SystemExit(f"[make run] {name} exited with code {code}")

    def wait(self) -> int:
        parent = os.getppid()
        while True:
            if os.getppid() != parent:
                say("the parent process went away; stopping everything")
                return 1
            try:
                self.check_children()
            except SystemExit as exc:
                say(f"{str(exc).removeprefix('[make run] ')}; stopping everything")
                return 1
            time.sleep(0.5)

    def stop(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        services = [child for child in self.children if child[0] in SERVICES]
        sinks = [child for child in self.children if child[0].endswith("-sink")]
        rest = [child for child in self.children if child not in services + sinks]
        # Services finish their in-flight messages while the database still answers.
        for group in (services, sinks, rest):
            for _name, process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for name, process in group:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    say(f"{name} did not stop within 30 s; killing it")
                    process.kill()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        supervisor.prepare_broker()
        supervisor.start_mongo()
        supervisor.start_sinks()
        supervisor.prepare_data()
        supervisor.write_env()
        supervisor.start_services()
        supervisor.wait_ready()
        say(
            f"ready: status API on http://127.0.0.1:{supervisor.env['STATUS_HTTP_PORT']} "
            "(Ctrl-C stops)"
        )
        return supervisor.wait()
    except KeyboardInterrupt:
        say("stopping")
        return 0
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(exc.code, file=sys.stderr, flush=True)
        return 1
    finally:
        supervisor.stop()


if __name__ == "__main__":
    sys.exit(main())
