"""The registry is the one list of commands and events, and consumers must handle every event."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from shared.contracts.events import EVENT_MODELS, Event
from shared.contracts.registry import COMMANDS, EVENTS, REPLIES
from shared.topology import ALL_QUEUES, queues_of

ROOT = Path(__file__).resolve().parents[2]
# Where each service matches events exhaustively.
CONSUMERS = {
    "intake": "services/intake/",
    "dispatcher": "services/dispatcher/",
    "notifier": "services/notifier/",
    "status": "services/status/",
}


def test_every_event_of_the_union_is_in_the_registry_under_its_own_routing_key() -> None:
    assert set(get_args(Event)) == set(EVENT_MODELS) == set(EVENTS.values())
    assert all(EVENTS[model.routing_key] is model for model in EVENT_MODELS)


def test_every_command_has_its_replies_and_one_queue_of_its_owner() -> None:
    for key, command in COMMANDS.items():
        assert REPLIES[command], key
        owned = {queue.name: queue for queue in queues_of(command.owner)}
        assert owned[key].bindings == (("meter.commands", key),)
    assert len({queue.name for queue in ALL_QUEUES}) == len(ALL_QUEUES)


def test_an_event_added_to_the_registry_but_not_handled_fails_the_type_check(
    tmp_path: Path,
) -> None:
    """``make lint`` (mypy) names every consumer that does not handle a new event."""
    for package in ("shared", "services", "meterctl"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    events = tmp_path / "shared" / "contracts" / "events.py"
    source = events.read_text(encoding="utf-8")
    made_up = """

class ApplicationMadeUp(ApplicationEvent):
    routing_key: ClassVar[str] = "application.made_up"
    producer: ClassVar[Service] = Service.DISPATCHER
"""
    source = source.replace(
        "\n\nEvent = Union[", made_up + "\n\nEvent = Union[\n    ApplicationMadeUp,"
    )
    events.write_text(source, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "services"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    unhandled = re.findall(r"^(services/\S+?):\d+: error: .*assert_never", result.stdout, re.M)
    for service, path in CONSUMERS.items():
        assert any(found.startswith(path) for found in unhandled), (service, result.stdout[-3000:])


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda model: model.routing_key)
def test_every_event_names_its_producer(model: type) -> None:
    assert model.producer.value in CONSUMERS
