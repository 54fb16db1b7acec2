"""Child processes of the benchmark: free ports, waiting for one to listen, and dying with
the benchmark."""

from __future__ import annotations

import ctypes
import signal
import socket
import time
from contextlib import suppress
from pathlib import Path


class StartFailed(RuntimeError):
    """The system did not come up; the text says which part and why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise StartFailed(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def log_tail(path: Path, lines: int = 3, width: int = 400) -> str:
    """The last errors or warnings a process logged (else its last lines), shortened."""
    if not path.is_file():
        return ""
    every = path.read_text("utf-8", "replace").splitlines()
    worst = [line for line in every if '"level": "error"' in line or '"warning"' in line]
    return "\n".join(line[:width] for line in (worst or every)[-lines:])
