"""A newcomer's first hour: every mistake gets one clear line, and `make clean` forgets all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.infra import VhostAdmin

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], env: dict[str, str], cwd: Path = ROOT, timeout: float = 120):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_make_run_stops_with_one_clear_line_when_the_broker_does_not_answer() -> None:
    env = {**os.environ, "RABBITMQ_URL": "amqp://guest:secret@127.0.0.2:5999/"}
    result = run(["make", "run"], env)
    assert result.returncode != 0
    assert "does not answer" in result.stderr
    assert "127.0.0.2:5999" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


def test_the_supervisor_itself_refuses_a_broker_that_does_not_answer(tmp_path: Path) -> None:
    # Past ensure-broker (e.g. a local port): the supervisor checks the broker too.
    env = {
        **os.environ,
        "RABBITMQ_URL": "amqp://guest:secret@127.0.0.1:1/",
        "VAR_DIR": str(tmp_path),
    }
    result = run([sys.executable, "-m", "devtools.run"], env)
    assert result.returncode == 1
    assert "[make run] the broker at amqp://guest:***@127.0.0.1:1/ does not answer" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("service", ["intake", "dispatcher", "notifier", "status"])
def test_a_bad_setting_stops_a_service_naming_the_variable_in_one_line(service: str) -> None:
    env = {**os.environ, "PREFETCH": "abc", "LOG_FORMAT": "xml"}
    result = run([sys.executable, "-m", f"services.{service}"], env, timeout=60)
    assert result.returncode == 2
    assert "PREFETCH='abc'" in result.stderr
    assert "LOG_FORMAT='xml'" in result.stderr
    assert "expected a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_meterctl_answers_bad_settings_and_a_silent_broker_in_one_line() -> None:
    env = {**os.environ, "MAX_MESSAGE_BYTES": "tiny"}
    result = run([sys.executable, "-m", "meterctl", "dlq", "list"], env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[1].startswith("  MAX_MESSAGE_BYTES='tiny' is not valid")
    env = {**os.environ, "RABBITMQ_URL": "amqp://guest:secret@127.0.0.1:1/"}
    result = run([sys.executable, "-m", "meterctl", "dlq", "list"], env)
    assert result.returncode == 1
    assert result.stderr.startswith("meterctl: the broker at amqp://guest:***@127.0.0.1:1/")
    assert "Traceback" not in result.stderr


def test_a_service_logs_one_json_line_per_record_when_not_on_a_terminal(
    rabbitmq_url: str, mongo_url: str
) -> None:
    env = {**os.environ, "RABBITMQ_URL": rabbitmq_url, "MONGO_URL": mongo_url, "HEALTH_PORT": "0"}
    env.pop("LOG_FORMAT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "services.intake"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stderr.readline() if process.stderr else ""
    finally:
        process.terminate()
        process.wait(timeout=30)
    record = json.loads(first)
    assert record["service"] == "intake"
    assert "\x1b[" not in first


def test_make_clean_forgets_the_local_runs_broker_vhost(
    rabbitmq_base_url: str, tmp_path: Path
) -> None:
    vhost = f"test-clean-{uuid.uuid4().hex[:8]}"
    admin = VhostAdmin(rabbitmq_base_url)
    admin.create(vhost)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for tracked in ("Makefile", "scripts/local-vhost"):  # as they are now, committed or not
        (clone / tracked).write_bytes((ROOT / tracked).read_bytes())
    env = {key: value for key, value in os.environ.items() if key != "RABBITMQ_URL"}
    result = run(["make", "clean"], {**env, "LOCAL_VHOST": vhost}, cwd=clone)
    assert result.returncode == 0, result.stderr
    vhosts = {entry["name"] for entry in admin.get("vhosts")}  # type: ignore[union-attr]
    assert vhost not in vhosts
