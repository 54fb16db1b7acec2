"""``make bench``: the whole system, end to end, against the raw broker in the same run.

Each run starts the system fresh as ``make run`` does (its own vhost, its own embedded
database in a temporary directory, mail and SMS sinks, demo data, the four services as
processes), measures a raw aio-pika request/reply baseline, then offers applications from
concurrent portal clients: open loop at each ``BENCH_RATES`` rate, then closed loop at
saturation; then a backlog of notifications delivered by one notifier and another by two
(notifier scaling). A field-team driver reports every assignment as installed; each
application is followed until ``completed``. Every reply is checked, each application's status is
asked at the end, and the sinks' e-mails and SMS are counted per (application, step):
a refused, malformed or missing reply, an application not completed, and a lost or
duplicated notification each fail the benchmark (exit code 1, the reason printed).

Figures are medians over the runs; they are printed and saved to
``bench/results/<date>.json`` with a PNG chart. Options (``bench/options.py``):

    BENCH_APPLICATIONS=2000 BENCH_RUNS=3 BENCH_CONCURRENCY=32 BENCH_RATES=20,50 make bench
    BENCH_APPLICATIONS=200 BENCH_RUNS=1 make bench          # a quick try
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from bench import report
from bench.amqp import BenchFailure
from bench.figures import summarise
from bench.management import Management
from bench.options import OptionError, from_env
from bench.procs import StartFailed
from bench.run import Run, say
from bench.system import running


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    try:
        options = from_env(os.environ)
    except OptionError as exc:
        print(f"make bench: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    base = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    management = Management(base, os.environ.get("RABBITMQ_MANAGEMENT_URL"))
    started = datetime.now(UTC).astimezone()
    result: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": report.machine(management.version()),
        "options": dataclasses.asdict(options),
        "runs": [],
        "failures": [],
    }
    rates = ", ".join(f"{rate:g}/s" for rate in options.rates)
    open_loop = f"open loop at {rates} for {options.open_seconds:g} s each, then " if rates else ""
    say(
        f"{options.runs} run(s): {open_loop}{options.applications} applications at "
        f"saturation ({options.concurrency} in flight)"
    )
    try:
        for number in range(1, options.runs + 1):
            say(f"run {number}: starting the system")
            with running(management, options) as system:
                run = Run(system, options, number)
                try:
                    asyncio.run(run.measure())
                finally:
                    result["runs"].append(run.result)
    except (BenchFailure, StartFailed) as exc:
        result["failures"].append(str(exc))
    except KeyboardInterrupt:
        say("interrupted: everything it started is stopped; nothing saved")
        return 130
    except Exception as exc:  # any other failure still prints and saves what was measured
        result["failures"].append(f"{type(exc).__name__}: {exc}")
    finished = [run for run in result["runs"] if "notifications" in run]
    result["summary"] = summarise(finished, options.rates, os.cpu_count() or 1)
    if finished:
        print(report.text({**result, "runs": finished}), flush=True)
    stamp = started.strftime("%Y-%m-%dT%H%M%S")
    saved, chart = report.save(result, stamp)
    say(
        f"saved {saved.relative_to(report.RESULTS.parent.parent)}"
        + (f" and {chart.name}" if chart else "")
    )
    if result["failures"]:
        print(f"make bench: FAILED: {result['failures'][0]}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
