"""The README's journey, replayed from a fresh clone, every command exactly as printed.

The journey's ``console`` blocks are read from README.md: ``$ `` lines are commands, the
lines after them what they print (a lone "…" stands for lines left out, a "…" within a line
for any text). Commands
that run until stopped (``make run``, following, watching) run in the background; a block
with no command is what they print meanwhile. A command is repeated, as a person would, for
at most a minute until it prints what the README says (the system is asynchronous).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.infra import in_ci

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("make run", 'ARGS="follow', 'ARGS="watch')
PATIENCE = 90.0


@dataclass
class Step:
    command: str | None  # None: what the background commands print meanwhile
    expected: list[str] = field(default_factory=list)


def journey(readme: str) -> list[Step]:
    section = readme.split("## The journey, step by step", 1)[1].split("\n## ", 1)[0]
    steps: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", section, re.DOTALL):
        current: Step | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = Step(line[2:])
                steps.append(current)
            else:
                if current is None:
                    current = Step(None)
                    steps.append(current)
                if line.strip() and line.strip() != "…":
                    current.expected.append(line.strip())
    return steps


def printed(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines()}


def missing_from(expected: list[str], text: str) -> list[str]:
    """The expected lines nothing printed matches ("…" matching any text)."""
    lines = printed(text)
    patterns = [(line, re.compile(".*".join(map(re.escape, line.split("…"))))) for line in expected]
    return [line for line, pattern in patterns if not any(pattern.fullmatch(x) for x in lines)]


class Background:
    def __init__(self, command: str, clone: Path, env: dict[str, str], logs: Path) -> None:
        self.log = logs / f"{len(list(logs.iterdir()))}.log"
        self.process = subprocess.Popen(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_for(
    expected: list[str], read: Callable[[], str], what: str, timeout: float = PATIENCE
) -> None:
    deadline = time.monotonic() + timeout
    missing = expected
    while time.monotonic() < deadline:
        missing = missing_from(expected, read())
        if not missing:
            return
        time.sleep(1)
    raise AssertionError(f"{what}: never printed {missing}\n--- it printed:\n{read()}")


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_readmes_journey_works_as_printed(rabbitmq_base_url: str, tmp_path: Path) -> None:
    if port_taken(8080):
        reason = "port 8080 is taken: the README's journey uses it"
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    steps = journey((ROOT / "README.md").read_text(encoding="utf-8"))
    assert [step.command for step in steps if step.command][:1] == ["make run"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("RABBITMQ_URL", "MONGO_URL")}
    # The journey's own vhost, so a developer's `make run` is left alone.
    env.update(LOCAL_VHOST=f"test-readme-{uuid.uuid4().hex[:8]}", CI="")
    background: list[Background] = []
    try:
        for step in steps:
            if step.command is None:

                def everything() -> str:
                    return "\n".join(process.output() for process in background)

                wait_for(step.expected, everything, "the commands running meanwhile")
            elif any(marker in step.command for marker in LONG_RUNNING):
                process = Background(step.command, clone, env, logs)
                background.append(process)
                patience = 600.0 if step.command == "make run" else PATIENCE
                wait_for(step.expected, process.output, step.command, patience)
            else:
                run_until_printed(step, clone, env)
    finally:
        for process in reversed(background):
            process.stop()
        subprocess.run(["make", "clean"], cwd=clone, env=env, capture_output=True, check=False)


def run_until_printed(step: Step, clone: Path, env: dict[str, str]) -> None:
    assert step.command is not None
    deadline = time.monotonic() + PATIENCE
    while True:
        result = subprocess.run(
            ["bash", "-c", step.command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        text = result.stdout + result.stderr
        assert "Traceback" not in text, f"{step.command}\n{text}"
        missing = missing_from(step.expected, text)
        if not missing:
            return
        if time.monotonic() > deadline:
            message = f"{step.command}: never printed {missing}\n--- it printed:\n{text}"
            raise AssertionError(message)
        time.sleep(2)
