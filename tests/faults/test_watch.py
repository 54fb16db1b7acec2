"""The services' logs summed up per scenario: warnings, errors, lines that are not JSON."""

from __future__ import annotations

import json
from pathlib import Path

from faults.watch import LogWatch, summarise


def line(level: str, event: str) -> str:
    return json.dumps({"level": level, "event": event})


def test_errors_and_lines_that_are_not_json_are_counted_and_sampled() -> None:
    summary = summarise(
        [
            line("info", "message processed"),
            line("warning", "retrying"),
            line("error", "store failed"),
            line("error", "store failed"),
            "Traceback (most recent call last):",
            "",
        ]
    )
    assert summary == {
        "warning": 1,
        "error": 2,
        "not_json": 1,
        "first_not_json": "Traceback (most recent call last):",
        "samples": ["store failed"],
    }


def test_a_quiet_log_gives_nothing() -> None:
    assert summarise([line("info", "started")]) == {}


def test_only_what_was_written_after_the_mark_is_read(tmp_path: Path) -> None:
    log = tmp_path / "intake.log"
    log.write_text(line("error", "before") + "\n")
    watch = LogWatch(tmp_path, ("intake", "status"))
    watch.mark()
    with log.open("a") as out:
        out.write(line("error", "after") + "\n")
    assert watch.errors() == {"intake": {"error": 1, "samples": ["after"]}}
