"""The suite's children: stopped politely, killed as a crash, each by its own id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faults.procs import PYTHON, Children, run_command, until

SLEEPER = [PYTHON, "-c", "import time; print('up', flush=True); time.sleep(60)"]
STUBBORN = [
    PYTHON,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
]


async def test_a_child_logs_to_its_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    children = Children(tmp_path)
    await children.start("sleeper", SLEEPER, {})
    assert await until(lambda: "up" in (tmp_path / "sleeper.log").read_text(), within=10)
    took = await children.stop("sleeper")
    assert took is not None
    assert not children.is_running("sleeper")


async def test_a_child_that_ignores_sigterm_is_killed_after_the_wait(tmp_path: Path) -> None:
    children = Children(tmp_path)
    await children.start("stubborn", STUBBORN, {})
    await asyncio.sleep(0.5)
    assert await children.stop("stubborn", within=1) is None
    assert not children.is_running("stubborn")


async def test_a_child_that_exits_by_itself_is_reported(tmp_path: Path) -> None:
    children = Children(tmp_path)
    await children.start("quitter", [PYTHON, "-c", "raise SystemExit(3)"], {})
    assert await until(lambda: bool(children.exited()), within=10)
    assert children.exited() == {"quitter": 3}


async def test_a_failing_command_raises_with_its_output() -> None:
    try:
        await run_command([PYTHON, "-c", "print('bad'); raise SystemExit(2)"], env={}, within=10)
    except RuntimeError as exc:
        assert "bad" in str(exc)
    else:
        raise AssertionError("no RuntimeError")
