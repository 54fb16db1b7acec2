"""Leaving nothing behind: the last resort after a failed stop, and an earlier run's remains.

Each run's work directory (``/tmp/meter-faults-*``) names its owner (the suite's pid).
Children die with the suite (``PR_SET_PDEATHSIG``), but the RabbitMQ node runs detached;
a run killed outright leaves it running, so the next run stops it by its own name (with
that directory's cookie) and removes the directory (unless it was kept on purpose with
``--keep``). Nothing else is ever stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from faults.broker import RabbitNode
from faults.procs import pid_alive

if TYPE_CHECKING:
    from faults.system import System

OWNER = "owner.pid"
NODE = "node.name"
KEPT = "kept"  # written by --keep: the directory stays for its logs


def mark_owner(workdir: Path) -> None:
    (workdir / OWNER).write_text(str(os.getpid()))


def _stop_node(node: RabbitNode) -> None:
    """Stop a node synchronously: by its name, then its own pid if it is still there."""
    pid = node.pid()
    if pid is None or not pid_alive(pid):
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [str(node.scripts / "rabbitmqctl"), "-n", node.name, "stop"],
            env=node.env(),
            capture_output=True,
            timeout=60,
            check=False,
        )
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def last_resort(system: System) -> None:
    """After the orderly stop (or when it failed): kill what is left, stop the node."""
    system.children.kill_everything_now()
    _stop_node(system.node)


def forget_stale_runs() -> None:
    for workdir in Path(tempfile.gettempdir()).glob("meter-faults-*"):
        try:
            owner = int((workdir / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue  # another run, still going
        rabbit = workdir / "rabbit"
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            name = (rabbit / NODE).read_text().strip()
            _stop_node(RabbitNode(rabbit, name=name))
        if not (workdir / KEPT).exists():
            shutil.rmtree(workdir, ignore_errors=True)
