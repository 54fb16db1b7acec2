"""A 3-node RabbitMQ cluster on loopback ports, from the installed rabbitmq-server.

Each node has its own name (``meterscale<tag>-<n>@localhost``), AMQP and distribution
ports, and mnesia, log and configuration files under the test's temporary directory, with
an Erlang cookie of its own (``HOME``) and no plugins. The machine's own node
(``rabbit@localhost``) and its files are never touched; ``stop`` stops only these nodes, by
name, and then only the processes it started.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.infra import free_port, wait_for_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def installed() -> bool:
    return (RABBIT_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None


@dataclass
class Node:
    name: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"


class Cluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        tag = secrets.token_hex(3)
        self.home = root / "home"
        self.nodes = [
            Node(f"meterscale{tag}-{n}@localhost", free_port(), root / f"node{n}")
            for n in range(1, size + 1)
        ]

    @property
    def addresses(self) -> list[str]:
        return [node.url for node in self.nodes]

    def environment(self, node: Node | None = None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),  # the Erlang cookie of these nodes only
            "LANG": "C.UTF-8",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
        }
        if node is not None:
            env |= {
                "RABBITMQ_NODENAME": node.name,
                "RABBITMQ_NODE_PORT": str(node.port),
                "RABBITMQ_DIST_PORT": str(free_port()),
                "RABBITMQ_CONFIG_FILE": str(node.directory / "rabbitmq.conf"),
                "RABBITMQ_MNESIA_BASE": str(node.directory / "mnesia"),
                "RABBITMQ_LOG_BASE": str(node.directory / "log"),
                "RABBITMQ_PID_FILE": str(node.directory / "rabbitmq.pid"),
            }
        return env

    def ctl(self, node: Node, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", node.name, *args],
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {result.stderr}")
        return result.stdout

    def start(self) -> None:
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[].\n")
        for node in self.nodes:
            node.directory.mkdir(parents=True)
            (node.directory / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.port}\n"
                "cluster_partition_handling = pause_minority\n"
            )
            log = (node.directory / "server.log").open("wb")
            node.process = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")],
                env=self.environment(node),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the test run reaches it only through us
            )
        for node in self.nodes:
            self._await_startup(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        for node in self.nodes:
            wait_for_port("127.0.0.1", node.port, timeout=60)

    def _await_startup(self, node: Node, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.ctl(node, "await_startup", timeout=timeout)
                return
            except RuntimeError:  # not registered with epmd yet
                if node.process is None or node.process.poll() is not None:
                    log = (node.directory / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"{node.name} did not start: {log[-2000:]}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def running_nodes(self, via: Node) -> list[str]:
        status = json.loads(self.ctl(via, "cluster_status", "--formatter", "json"))
        return sorted(status["running_nodes"])

    def quorum_members(self, via: Node) -> dict[str, list[str]]:
        """Each quorum queue of the default vhost with the nodes holding a replica."""
        listed = self.ctl(via, "list_queues", "name", "type", "members", "--formatter", "json")
        return {
            queue["name"]: sorted(queue["members"])
            for queue in json.loads(listed)
            if queue["type"] == "quorum"
        }

    def stop_node(self, node: Node) -> None:
        """Stop one node (the Erlang VM halts), as when a machine of the cluster goes away."""
        self.ctl(node, "stop")
        node.stopped = True
        if node.process is not None:
            node.process.wait(timeout=60)

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            try:
                self.ctl(node, "stop", timeout=60)
                node.process.wait(timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                node.process.kill()  # only the process this cluster started
                node.process.wait()
