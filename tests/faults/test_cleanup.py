"""An earlier run killed outright leaves a directory: the next run removes it, and only it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faults import cleanup


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def run_dir(root: Path, name: str, owner: int, kept: bool = False) -> Path:
    workdir = root / f"meter-faults-{name}"
    (workdir / "logs").mkdir(parents=True)
    (workdir / cleanup.OWNER).write_text(str(owner))
    if kept:
        (workdir / cleanup.KEPT).write_text("kept")
    return workdir


def test_only_the_remains_of_runs_whose_owner_is_gone_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleanup.tempfile, "gettempdir", lambda: str(tmp_path))
    stale = run_dir(tmp_path, "stale", dead_pid())
    running = run_dir(tmp_path, "running", os.getpid())
    kept = run_dir(tmp_path, "kept", dead_pid(), kept=True)
    unrelated = tmp_path / "meter-faults-not-ours"
    unrelated.mkdir()

    cleanup.forget_stale_runs()

    assert not stale.exists()
    assert running.exists()
    assert kept.exists()
    assert unrelated.exists()  # no owner file: not a directory the suite made
