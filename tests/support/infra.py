"""Where the tests' RabbitMQ and MongoDB come from.

RabbitMQ: ``RABBITMQ_URL`` when set, else testcontainers when a Docker engine answers,
else the local broker found (and started, if installed) by ``scripts/ensure-broker``,
exactly as ``make test`` finds it. MongoDB: ``MONGO_URL`` when set, else testcontainers,
else the embedded ``nx-27017``. Under ``CI=true`` a missing broker fails the run;
elsewhere the tests that need it are skipped with the reason in the summary.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing dependency is a failure, not a skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered on {host}:{port} within {timeout}s")


@contextmanager
def rabbitmq_base_url() -> Iterator[str]:
    url = os.environ.get("RABBITMQ_URL")
    if url:
        yield url
        return
    if docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:3.10-management") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(5672)
            os.environ.setdefault(
                "RABBITMQ_MANAGEMENT_URL",
                f"http://{host}:{container.get_exposed_port(15672)}",
            )
            yield f"amqp://guest:guest@{host}:{port}/"
        return
    found = local_broker()
    if found is None:
        unavailable(
            "no RabbitMQ: none answers on 127.0.0.1:5672 and none could be started; "
            "set RABBITMQ_URL (see scripts/ensure-broker)"
        )
    yield str(found)


def local_broker() -> str | None:
    """The local broker's URL from ``scripts/ensure-broker`` (which may start it), or None."""
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "ensure-broker")
    try:
        result = subprocess.run(
            ["bash", script], capture_output=True, text=True, timeout=180, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = result.stdout.strip()
    return url if result.returncode == 0 and url else None


@contextmanager
def mongo_url() -> Iterator[str]:
    url = os.environ.get("MONGO_URL")
    if url:
        yield url
        return
    if docker_answers():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:7") as container:
            yield container.get_connection_url()
        return
    with embedded_mongo() as url:
        yield url


@contextmanager
def embedded_mongo() -> Iterator[str]:
    """The embedded MongoDB-compatible server, on a free port, in memory."""
    executable = shutil.which("nx-27017") or os.path.join(
        os.path.dirname(sys.executable), "nx-27017"
    )
    if not os.path.exists(executable):
        unavailable("no MONGO_URL, no Docker engine and no nx-27017 installed")
    port = free_port()
    log_file = f"/tmp/nx-27017-test-{port}.log"
    process = subprocess.Popen(
        [
            executable,
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            "memory",
            "--log-file",
            log_file,
            "--pid-file",
            f"/tmp/nx-27017-test-{port}.pid",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        # Its data is in memory and nobody needs it any more: a short grace, then a kill
        # (under pytest it often did not exit on SIGTERM, which cost 10 s per session).
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class VhostAdmin:
    """Creates and deletes per-test virtual hosts through the management HTTP API."""

    def __init__(self, amqp_url: str) -> None:
        parts = urllib.parse.urlsplit(amqp_url)
        self.amqp = parts
        self.user = urllib.parse.unquote(parts.username or "guest")
        self.password = urllib.parse.unquote(parts.password or "guest")
        self.api = os.environ.get(
            "RABBITMQ_MANAGEMENT_URL", f"http://{parts.hostname or 'localhost'}:15672"
        ).rstrip("/")

    def get(self, path: str) -> object:
        request = urllib.request.Request(f"{self.api}/api/{path}")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def close_connections(self, vhost_url: str) -> int:
        """Force-close every client connection of a vhost, as a broker restart would."""
        vhost = urllib.parse.urlsplit(vhost_url).path.lstrip("/")
        connections = self.get(f"vhosts/{vhost}/connections")
        assert isinstance(connections, list)
        for connection in connections:
            name = urllib.parse.quote(connection["name"], safe="")
            self._call("DELETE", f"connections/{name}")
        return len(connections)

    def _call(self, method: str, path: str, body: object | None = None) -> None:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}/api/{path}", data=data, method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def create(self, name: str) -> str:
        quoted = urllib.parse.quote(name, safe="")
        try:
            self._call("PUT", f"vhosts/{quoted}", {})
            self._call(
                "PUT",
                f"permissions/{quoted}/{urllib.parse.quote(self.user, safe='')}",
                {"configure": ".*", "write": ".*", "read": ".*"},
            )
        except (urllib.error.URLError, OSError) as exc:
            unavailable(
                f"cannot create a test vhost through {self.api} ({exc}); enable the management "
                "plugin: rabbitmq-plugins enable rabbitmq_management"
            )
        netloc = self.amqp.netloc
        return urllib.parse.urlunsplit((self.amqp.scheme, netloc, "/" + quoted, "", ""))

    def import_definitions(self, vhost_url: str, body: dict[str, object]) -> None:
        """Load per-vhost definitions into the vhost of ``vhost_url``."""
        vhost = urllib.parse.urlsplit(vhost_url).path.lstrip("/") or "%2F"
        self._call("POST", f"definitions/{vhost}", body)

    def delete(self, name: str) -> None:
        with suppress(urllib.error.URLError, OSError):
            self._call("DELETE", f"vhosts/{urllib.parse.quote(name, safe='')}")
