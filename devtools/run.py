"""``make run``: the whole system on one machine, logging to the terminal until Ctrl-C.

Starts the embedded MongoDB-compatible server when ``MONGO_URL`` is unset, the
development e-mail and SMS sinks when ``SMTP_HOST`` / ``SMS_GATEWAY_URL`` are unset, loads
the demo data from ``deploy/demo/`` (unless ``DEMO_DATA=0``) and runs every service as its
own process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("VAR_DIR") or ROOT / "var")
SERVICES = ("intake", "dispatcher", "notifier", "status")


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


class Supervisor:
    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.env = dict(os.environ)
        self.env.setdefault("LOG_FORMAT", "console")
        self.env.setdefault("STATUS_API_KEYS", "dev-portal-key")

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env)
        self.children.append((name, process))
        return process

    def start_mongo(self) -> None:
        if self.env.get("MONGO_URL"):
            say(f"using MONGO_URL={self.env['MONGO_URL']}")
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
        )
        self.children.append(("mongo", process))
        wait_port("127.0.0.1", port, "the embedded MongoDB-compatible server")
        self.env["MONGO_URL"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        say(f"embedded MongoDB-compatible server (nx-27017) on port {port}, data in var/mongo")

    def start_sinks(self) -> None:
        if not self.env.get("SMTP_HOST") and (ROOT / "devtools" / "sinks.py").exists():
            port = free_port(2525)
            self.spawn("mail-sink", "-m", "devtools.sinks", "mail", str(port), str(VAR / "mail"))
            wait_port("127.0.0.1", port, "the development mail sink")
            self.env.update(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
            say(f"development mail sink on port {port}: e-mails land in var/mail/")
        if not self.env.get("SMS_GATEWAY_URL") and (ROOT / "devtools" / "sinks.py").exists():
            port = free_port(8025)
            self.spawn("sms-sink", "-m", "devtools.sinks", "sms", str(port), str(VAR / "sms"))
            wait_port("127.0.0.1", port, "the development SMS sink")
            self.env["SMS_GATEWAY_URL"] = f"http://127.0.0.1:{port}/messages"
            say(f"development SMS sink on port {port}: SMS land in var/sms/")

    def load_demo_data(self) -> None:
        if self.env.get("DEMO_DATA", "1") == "0":
            say("DEMO_DATA=0: no demo data loaded")
            return
        demo = ROOT / "deploy" / "demo"
        steps: list[tuple[str, ...]] = [("subscribers", "import", str(demo / "subscribers.csv"))]
        if (demo / "teams.csv").exists() and (ROOT / "services/dispatcher/__main__.py").exists():
            steps.append(("teams", "import", str(demo / "teams.csv")))
            for line in (demo / "stock.txt").read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    district, quantity = line.split()
                    # A fixed receipt id: restarting `make run` does not add the demo stock again.
                    receipt = f"demo-{district}-{quantity}"
                    steps.append(("stock", "receive", district, quantity, "--receipt", receipt))
        for step in steps:
            result = subprocess.run(
                [sys.executable, "-m", "meterctl", *step], cwd=ROOT, env=self.env, check=False
            )
            if result.returncode != 0:
                raise SystemExit(f"[make run] loading demo data failed: meterctl {' '.join(step)}")

    def start_services(self) -> None:
        for service in SERVICES:
            if (ROOT / "services" / service / "__main__.py").exists():
                self.spawn(service, "-m", f"services.{service}")
        say("services: " + ", ".join(name for name, _ in self.children if name in SERVICES))

    def wait(self) -> int:
        parent = os.getppid()
        while True:
            if os.getppid() != parent:
                say("the parent process went away; stopping everything")
                return 1
            for name, process in self.children:
                code = process.poll()
                if code is not None:
                    say(f"{name} exited with code {code}; stopping everything")
                    return 1
            time.sleep(0.5)

    def stop(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        say(f"broker: {supervisor.env.get('RABBITMQ_URL', 'amqp://guest:guest@localhost:5672/')}")
        supervisor.start_mongo()
        supervisor.start_sinks()
        supervisor.load_demo_data()
        supervisor.start_services()
        say("running; Ctrl-C stops")
        return supervisor.wait()
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        supervisor.stop()


if __name__ == "__main__":
    sys.exit(main())
