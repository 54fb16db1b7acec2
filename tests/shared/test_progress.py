"""Long meterctl operations: batched writes, a progress bar on a terminal, a final count."""

from __future__ import annotations

import asyncio
import io
import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring
from rich.console import Console

import meterctl.subscribers
from meterctl.progress import progress
from tests.security.deployment import run_meterctl

ROOT = Path(__file__).resolve().parents[2]


def subscribers_csv(path: Path, rows: int) -> Path:
    lines = ["subscriber_code,applicant_fin,address,district_code,active_meter_serials"]
    lines += [f'{2000000 + n},5ABCD12,"Bakı, küçə {n}",BAK-NAS,' for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Writes(monitoring.CommandListener):
    """Counts the write commands a client sends (one database round trip each)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += event.command_name in {"insert", "update"}

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_the_bar_counts_up_to_the_total_on_a_terminal() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with progress("subscribers", 3000, console) as advance:
        for _ in range(3):
            advance(1000)
    assert "subscribers" in screen.getvalue()
    assert "3000/3000" in screen.getvalue()


def test_no_bar_is_drawn_when_not_on_a_terminal() -> None:
    screen = io.StringIO()
    with progress("subscribers", 10, Console(file=screen, force_terminal=False)) as advance:
        advance(10)
    assert screen.getvalue() == ""


async def test_importing_twenty_thousand_subscribers_writes_in_batches_and_counts_them(
    mongo_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = Writes()
    prefix = f"t{uuid.uuid4().hex[:10]}_"

    def counted_client(url: str, app_name: str, **_: Any) -> AsyncMongoClient[dict[str, Any]]:
        return AsyncMongoClient(url, appname=app_name, event_listeners=[writes])

    monkeypatch.setattr(meterctl.subscribers, "make_client", counted_client)
    path = subscribers_csv(tmp_path / "subscribers.csv", 20_000)
    environment = {"MONGO_URL": mongo_url, "DATABASE_PREFIX": prefix}

    code, out, err = await asyncio.to_thread(
        run_meterctl, environment, "subscribers", "import", str(path)
    )
    assert code == 0, err
    assert out.strip() == f"imported 20000 subscriber(s) from {path}"
    assert err == ""  # no bar, nothing else, when not on a terminal
    assert writes.count <= 25, f"{writes.count} write round trips for 20,000 rows"
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    try:
        assert await client[f"{prefix}intake"]["subscribers"].count_documents({}) == 20_000
        await client.drop_database(f"{prefix}intake")
    finally:
        await client.close()


def test_an_import_on_a_terminal_shows_the_bar_and_the_count(
    mongo_url: str, tmp_path: Path
) -> None:
    path = subscribers_csv(tmp_path / "subscribers.csv", 2500)
    screen, terminal = pty.openpty()
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    environment = {**os.environ, "MONGO_URL": mongo_url, "DATABASE_PREFIX": prefix}
    process = subprocess.Popen(
        [sys.executable, "-m", "meterctl", "subscribers", "import", str(path)],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(screen, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    os.close(screen)
    assert process.wait(timeout=60) == 0
    with MongoClient(mongo_url) as client:
        client.drop_database(f"{prefix}intake")
    text = shown.decode("utf-8", "replace")
    assert "2500/2500" in text
    assert f"imported 2500 subscriber(s) from {path}" in text
