"""A service keeps two malloc arenas, not one per thread (glibc), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import memory, runtime

ROOT = Path(__file__).resolve().parents[2]

# Eight threads allocating at once, then glibc's own count of its arenas (malloc_info).
ARENAS = """
import ctypes, sys, tempfile, threading
from shared.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas()
barrier, kept = threading.Barrier(8), []
def work():
    barrier.wait()
    kept.append([bytearray(4096) for _ in range(200)])
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(report.name).read().count("<heap nr="))
"""

glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="arenas are glibc's")


def arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, mode],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout)


@glibc_only
def test_threads_share_two_arenas_once_limited() -> None:
    assert arenas("none") > 2  # each thread takes an arena of its own by default
    assert arenas("limit") <= 2


def test_malloc_arena_max_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_malloc_arenas() is False


def test_a_service_limits_its_arenas_before_its_event_loop_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime, "limit_malloc_arenas", lambda: calls.append("limited"))

    class Settings:
        @classmethod
        def from_env(cls) -> Any:
            return SimpleNamespace(event_loop="asyncio")

    async def run() -> None:
        calls.append("ran")

    runtime.run_service("notifier", Settings, lambda _: SimpleNamespace(run=run))  # type: ignore[arg-type]
    assert calls == ["limited", "ran"]
