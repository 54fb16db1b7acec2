"""The suite's child processes: each in a session of its own, logged to a file, ended by id.

Children never share the suite's process group, so a Ctrl-C reaches them only through the
suite, which stops them in order. Every process is ended by its own id (``Children``
remembers them); nothing is ever ended by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the suite dies, however it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def say(text: str) -> None:
    """Progress on stderr; the table goes to stdout."""
    print(f"[faults] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as gone: reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


async def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def until(predicate: Callable[[], bool], *, within: float, every: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``within`` seconds passed (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if predicate():
            return True
        if loop.time() > deadline:
            return False
        await asyncio.sleep(every)


async def wait_port(port: int, what: str, within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if await port_answers(port):
            return
        if loop.time() > deadline:
            raise RuntimeError(f"{what} did not answer on port {port} within {within:.0f}s")
        await asyncio.sleep(0.1)


async def run_command(args: list[str], *, env: dict[str, str], within: float) -> str:
    """Run a command to its end; its output, or RuntimeError with the output."""
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise TimeoutError(f"{' '.join(args[:3])} did not finish within {within:.0f}s") from None
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({process.returncode}): {text[-2000:]}")
    return text


@dataclass
class Children:
    """Named long-running children; their output is appended to ``<logs>/<name>.log``."""

    logs: Path
    running: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        if self.is_running(name):
            raise RuntimeError(f"{name} runs already")
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            self.running[name] = await asyncio.create_subprocess_exec(
                *args,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def is_running(self, name: str) -> bool:
        process = self.running.get(name)
        return process is not None and process.returncode is None

    def exited(self) -> dict[str, int]:
        """Children that ended by themselves (not through ``stop`` or ``kill``)."""
        return {
            name: process.returncode
            for name, process in self.running.items()
            if process.returncode is not None
        }

    async def kill(self, name: str) -> None:
        """SIGKILL, as a crash: no shutdown code runs."""
        process = self.running.pop(name, None)
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def stop(self, name: str, within: float = 40.0) -> float | None:
        """SIGTERM and wait; SIGKILL after ``within`` seconds. Seconds it took, None if killed."""
        process = self.running.pop(name, None)
        if process is None or process.returncode is not None:
            return 0.0
        loop = asyncio.get_running_loop()
        started = loop.time()
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None
        return loop.time() - started

    async def stop_all(self, names: list[str] | None = None) -> None:
        chosen = list(self.running) if names is None else names
        await asyncio.gather(*(self.stop(name) for name in chosen))

    def kill_everything_now(self) -> None:
        """The last resort when the event loop is gone: SIGKILL every child by its id."""
        for process in self.running.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
        self.running.clear()
