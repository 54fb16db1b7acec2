"""Every log line a service writes is one JSON object, FastStream's own included."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import logging
    from faststream.rabbit import RabbitBroker
    from shared.logging import configure

    configure("INFO", "json", service="intake")
    RabbitBroker(logger=logging.getLogger("faststream.intake"))
    logging.getLogger("faststream").error("CancelledError: Server connection reset")
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError:
        logging.getLogger("faststream.intake").exception("consumer stopped")
    """
)


def test_faststream_logs_are_json_lines_with_their_traceback_inside() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # a line that is not JSON fails here
    assert [r["event"] for r in records] == [
        "CancelledError: Server connection reset",
        "consumer stopped",
    ]
    assert all(r["service"] == "intake" and r["level"] == "error" for r in records)
    assert "ConnectionResetError" in records[1]["exception"]


def test_drawing_an_act_writes_no_log_line_of_the_font_library() -> None:
    """fontTools notes every subset it makes at INFO: one per act, noise and CPU."""
    script = textwrap.dedent(
        """
        import logging
        from shared.logging import configure

        configure("INFO", "json", service="notifier")
        logging.getLogger("fontTools.subset").info("Glyph names: ...")
        logging.getLogger("fontTools.subset").warning("a font without a glyph")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert [json.loads(line)["event"] for line in lines] == ["a font without a glyph"]


def test_our_lines_and_the_libraries_lines_share_one_json_shape_and_one_level() -> None:
    """Our own lines skip the round through stdlib logging; they look the same, carry the
    logger's name, are masked and filtered by the level like the libraries' lines."""
    script = textwrap.dedent(
        """
        import logging
        import structlog
        from shared.logging import configure

        configure("INFO", "json", service="notifier")
        log = structlog.get_logger("meter.notifier")
        log.debug("not written at INFO")
        log.info("notification sent", to="+994 50 123 45 67", job=("a@b.az", 1))
        logging.getLogger("aiormq").warning("library line")
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed", address="citizen@example.az")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == ""
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert [(r["event"], r["level"], r["logger"]) for r in records] == [
        ("notification sent", "info", "meter.notifier"),
        ("library line", "warning", "aiormq"),
        ("failed", "error", "meter.notifier"),
    ]
    assert all(r["service"] == "notifier" and r["timestamp"].endswith("Z") for r in records)
    assert records[0]["to"] == "+994*******67"
    assert records[0]["job"] == ["a***@b.az", 1]
    assert records[2]["address"] == "c***@example.az"
    assert "ValueError: bad" in records[2]["exception"]
