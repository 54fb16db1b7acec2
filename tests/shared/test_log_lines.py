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
