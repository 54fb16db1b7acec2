"""The whole system as ``make run`` starts it, fresh for one benchmark run, and stopped again.

Its own broker vhost (management API), its own embedded MongoDB-compatible server with its
data in a temporary directory, the development mail and SMS sinks, the topology and demo
data through ``meterctl``, the benchmark's subscribers, teams and stock, then each service
as ``python -m services.<name>`` with a ``HEALTH_PORT`` of its own. ``stop`` ends them in
``make run``'s order (services, sinks, database) and deletes the vhost; every child also
dies with the benchmark (Linux parent-death signal) if the benchmark itself is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench import data, embedded_db
from bench.management import Management
from bench.options import Options
from bench.procs import StartFailed, die_with_parent, free_port, log_tail, wait_port
from shared.contracts.registry import Service
from shared.topology import queues_of

ROOT = data.ROOT
SERVICES = tuple(service.value for service in Service)
READY_TIMEOUT = 120.0


def notifier_names(count: int) -> list[str]:
    """``notifier``, ``notifier-2``, …: ``count`` instances' names."""
    return [Service.NOTIFIER.value, *(f"{Service.NOTIFIER.value}-{n}" for n in range(2, count + 1))]


@dataclass
class System:
    management: Management
    directory: Path
    vhost: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    health_ports: dict[str, int] = field(default_factory=dict)
    db_metrics_port: int | None = None  # the counting proxy's, when one runs
    mongo_urls: dict[str, str] = field(default_factory=dict)  # by service instance
    notifier_nice: int = 0

    @property
    def mail_dir(self) -> Path:
        return self.directory / "mail"

    @property
    def sms_dir(self) -> Path:
        return self.directory / "sms"

    def pid(self, name: str) -> int | None:
        return next((p.pid for n, p in self.children if n == name), None)

    def spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env or self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches it only through us, in order
            preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        log.close()
        self.children.append((name, process))
        return process

    def meterctl(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "meterctl", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StartFailed(f"meterctl {' '.join(args)} failed: {result.stderr.strip()}")

    def start(
        self,
        applications: int,
        db_proxy: bool,
        notifiers: int = 1,
        notifier_nice: int = 0,
        db_threads: int = 0,
    ) -> None:
        self.url = self.management.create_vhost(self.vhost)
        self.env = {**os.environ, "RABBITMQ_URL": self.url, "LOG_FORMAT": "json"}
        # make run's defaults: guest is every sender role, each service its own database.
        for name in ("DATABASE_PREFIX", "CHANNEL_USERS", "FIELD_USERS", "OPS_USERS"):
            self.env.pop(name, None)
        self._start_database(db_threads)
        self._start_sinks()
        self._load_data(applications)
        self._start_services(db_proxy, notifiers, notifier_nice)
        self._wait_ready()

    def _start_database(self, threads: int = 0) -> None:
        """nx-27017 as it comes, or with ``threads`` command threads (``BENCH_DB_THREADS``)."""
        port = free_port()
        (self.directory / "mongo").mkdir()
        self.spawn(
            "database",
            embedded_db.command(
                port,
                str(self.directory / "mongo"),
                str(self.directory / "nx-27017.log"),
                str(self.directory / "nx-27017.pid"),
                threads,
            ),
        )
        wait_port(port, "the embedded MongoDB-compatible server (nx-27017)")
        self.env["MONGO_URL"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"

    def _start_sinks(self) -> None:
        mail, sms = free_port(), free_port()
        python = sys.executable
        self.spawn(
            "mail-sink", [python, "-m", "devtools.sinks", "mail", str(mail), str(self.mail_dir)]
        )
        self.spawn("sms-sink", [python, "-m", "devtools.sinks", "sms", str(sms), str(self.sms_dir)])
        wait_port(mail, "the development mail sink")
        wait_port(sms, "the development SMS sink")
        self.env.update(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(mail),
            SMS_GATEWAY_URL=f"http://127.0.0.1:{sms}/messages",
        )
        for name in ("SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_STARTTLS", "SMS_GATEWAY_TOKEN"):
            self.env.pop(name, None)

    def _load_data(self, applications: int) -> None:
        """``make run``'s topology and demo data, then what the benchmark's run needs."""
        self.meterctl("topology", "declare")
        for args in data.meterctl_loads(self.directory, applications):
            self.meterctl(*args)

    def _start_services(self, db_proxy: bool, notifiers: int, notifier_nice: int = 0) -> None:
        """Each service once; the notifier ``notifiers`` times (``notifier``, ``notifier-2``…),
        each instance with its own health port and, behind the proxy, its own count, at
        CPU priority ``notifier_nice``."""
        names = [*SERVICES, *notifier_names(notifiers)[1:]]
        self.mongo_urls = dict.fromkeys(names, self.env["MONGO_URL"])
        if db_proxy:
            self.mongo_urls = self._start_db_proxy(names)
        self.notifier_nice = notifier_nice
        for name in names:
            self._start_service(name)

    def _start_service(self, name: str) -> subprocess.Popen[bytes]:
        service = name.split("-", 1)[0]
        port = free_port()
        self.health_ports[name] = port
        env = {
            **self.env,
            # an instance the proxy has no port for talks to the database directly
            "MONGO_URL": self.mongo_urls.get(name, self.env["MONGO_URL"]),
            "HEALTH_PORT": str(port),
            "STATUS_HTTP_PORT": "0",
            "STATUS_API_KEYS": "bench-portal-key",
        }
        command = [sys.executable, "-m", f"services.{service}"]
        if service == Service.NOTIFIER.value and self.notifier_nice:
            command = ["nice", "-n", str(self.notifier_nice), *command]  # the same process
        return self.spawn(name, command, env)

    def take(self, services: Collection[str]) -> list[tuple[str, subprocess.Popen[bytes]]]:
        """The processes of ``services`` (each notifier instance of ``notifier``), no longer
        children of the system (so their exit is no failure) and no longer scraped:
        ``stop_processes`` ends them."""
        taken = [(n, p) for n, p in self.children if n.split("-", 1)[0] in services]
        for name, process in taken:
            self.children.remove((name, process))
            self.health_ports.pop(name, None)
        return taken

    def take_notifiers(self) -> list[subprocess.Popen[bytes]]:
        return [process for _name, process in self.take({Service.NOTIFIER.value})]

    @staticmethod
    def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
        """Blocking: each ends its in-flight work (SIGTERM) and exits, or is killed."""
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def start_notifiers(self, count: int) -> list[tuple[str, subprocess.Popen[bytes]]]:
        return self.restart(notifier_names(count))

    def restart(self, names: list[str]) -> list[tuple[str, subprocess.Popen[bytes]]]:
        """Service processes by name (``notifier-2`` a second notifier), as at the start."""
        return [(name, self._start_service(name)) for name in names]

    def _start_db_proxy(self, names: list[str]) -> dict[str, str]:
        target = self.env["MONGO_URL"].split("//", 1)[1].split("/", 1)[0]
        ports = {name: free_port() for name in names}
        self.db_metrics_port = free_port()
        listen = [f"{service}={port}" for service, port in ports.items()]
        self.spawn(
            "db-proxy",
            [sys.executable, "-m", "bench.dbproxy", target, str(self.db_metrics_port), *listen],
        )
        for port in (*ports.values(), self.db_metrics_port):
            wait_port(port, "the database round-trip counting proxy")
        return {
            service: f"mongodb://127.0.0.1:{port}/?directConnection=true"
            for service, port in ports.items()
        }

    def _wait_ready(self) -> None:
        """Until every service consumes each of its queues (as ``make run`` waits)."""
        queues = {queue.name for service in Service for queue in queues_of(service)}
        deadline = time.monotonic() + READY_TIMEOUT
        missing = sorted(queues)
        while time.monotonic() < deadline:
            for name, process in self.children:
                if process.poll() is not None:
                    raise StartFailed(f"{name} exited with code {process.returncode}")
            with suppress(OSError, ValueError):
                missing = sorted(queues - self.management.consumed(self.vhost))
                if not missing:
                    return
            time.sleep(0.5)
        raise StartFailed(f"not ready after {READY_TIMEOUT:.0f}s; no consumer on {missing}")

    def log_tail(self, name: str) -> str:
        return log_tail(self.directory / f"{name}.log")

    def stop(self) -> None:
        services = [child for child in self.children if child[0] in self.health_ports]
        sinks = [child for child in self.children if child[0].endswith("-sink")]
        rest = [child for child in self.children if child not in services + sinks]
        # Services finish their in-flight messages while the database still answers.
        for group in (services, sinks, rest):
            for _name, process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for _name, process in group:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.children.clear()
        if self.url:
            self.management.delete_vhost(self.vhost)
            self.url = ""


@contextmanager
def running(management: Management, options: Options) -> Iterator[System]:
    """A started system, stopped (and its temporary directory removed) whatever happens.

    When something fails, the last lines each process logged are printed first.
    """
    with tempfile.TemporaryDirectory(prefix="meter-bench-") as directory:
        system = System(management, Path(directory))
        try:
            system.start(
                options.applications_per_run(),
                options.db_proxy,
                options.notifiers,
                options.notifier_nice,
                options.db_threads,
            )
            yield system
        except Exception:
            for name, _process in system.children:
                tail = system.log_tail(name)
                if tail and name in system.health_ports:
                    print(f"--- last lines of {name}'s log ---\n{tail}", file=sys.stderr)
            raise
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
            try:
                system.stop()
            finally:
                signal.signal(signal.SIGINT, previous)
