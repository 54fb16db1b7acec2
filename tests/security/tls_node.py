"""A RabbitMQ node of the test's own with only a TLS listener, and a CA that signed it.

The node has its own name, ports, data, logs, configuration, plugins (none) and Erlang
cookie (its own HOME), so nothing it does can reach the machine's ``rabbit@localhost``; it
is stopped by its own name at the end. Certificates come from the ``openssl`` command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.infra import free_port, unavailable, wait_for_port

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # not /usr/sbin's wrapper, which su's
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"


@dataclass(frozen=True)
class TlsNode:
    name: str
    port: int
    ca_file: Path

    def url(self, user: str = "guest", password: str = "guest") -> str:
        return f"amqps://{user}:{password}@localhost:{self.port}/"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> None:
    """``ca.pem`` (a CA of the test's own) and ``server.pem`` / ``server.key`` it signed."""
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=meter test CA",
        cwd=folder,
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=localhost",
        cwd=folder,
    )  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
        cwd=folder,
    )  # fmt: skip


def _environment(folder: Path, name: str, port: int) -> dict[str, str]:
    (folder / "rabbitmq.conf").write_text(
        "listeners.tcp = none\n"
        f"listeners.ssl.default = 127.0.0.1:{port}\n"
        f"ssl_options.cacertfile = {folder / 'ca.pem'}\n"
        f"ssl_options.certfile = {folder / 'server.pem'}\n"
        f"ssl_options.keyfile = {folder / 'server.key'}\n"
        "ssl_options.verify = verify_none\n"
        "ssl_options.fail_if_no_peer_cert = false\n"
    )
    (folder / "enabled_plugins").write_text("[].\n")
    (folder / "rabbitmq-env.conf").write_text("")
    home = folder / "home"
    home.mkdir(exist_ok=True)
    return {
        **os.environ,
        "HOME": str(home),  # its own Erlang cookie
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_PORT": str(free_port()),  # no plain listener: only for the defaults
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_PID_FILE": str(folder / "node.pid"),
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
        "RABBITMQ_CONFIG_FILES": str(folder / "conf.d"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
    }


@contextmanager
def tls_node(folder: Path) -> Iterator[TlsNode]:
    """Start the node, yield it, stop it (by its name only)."""
    if not (os.path.exists(SERVER) and shutil.which("openssl")):
        unavailable("no local rabbitmq-server or openssl for the TLS node")
    make_certificates(folder)
    name = f"meter-tls-{uuid.uuid4().hex[:8]}@localhost"
    port = free_port()
    environment = _environment(folder, name, port)
    subprocess.run([SERVER, "-detached"], env=environment, check=True, timeout=60)
    try:
        wait_for_port("127.0.0.1", port, timeout=90)
        time.sleep(0.5)  # the listener opens before the node finishes booting
        subprocess.run(
            [CTL, "-n", name, "await_startup", "--timeout", "60"],
            env=environment,
            check=True,
            capture_output=True,
            timeout=90,
        )
        yield TlsNode(name, port, folder / "ca.pem")
    finally:
        subprocess.run(
            [CTL, "-n", name, "stop"], env=environment, capture_output=True, timeout=60, check=False
        )
