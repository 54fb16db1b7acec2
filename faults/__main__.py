"""``python -m faults [quick|full] [--only TEXT] [--keep]``: run the fault suite.

``full`` (the default, about an hour on 2 cores) runs every scenario with 300
applications each, the 5-minute MongoDB outage and a backlog of 1,000; ``quick`` (CI,
about 10 minutes) runs 30 applications per scenario, a 10-second MongoDB outage and a
backlog of 100. The table is printed and saved as JSON under ``faults/results/``; the
exit code is 1 if any scenario lost an application or did an effect twice (outside the
notifier's crash window).

Everything the suite starts is its own: a RabbitMQ node on free ports (the machine's
broker is never touched), a MongoDB-compatible server, sinks and services, all under a
temporary directory that is removed at the end — also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from faults import report
from faults.cleanup import KEPT, forget_stale_runs, last_resort, mark_owner
from faults.plan import PLANS, Plan
from faults.procs import say
from faults.scenarios import scenarios
from faults.suite import Run, Scenario


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument(
        "variant", nargs="?", default="full", choices=sorted(PLANS), help="default: full"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="only the scenarios whose name contains TEXT (repeatable)",
    )
    parser.add_argument("--apps", type=int, help="applications per scenario (overrides)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, data) afterwards"
    )
    return parser.parse_args(argv)


def chosen(plan: Plan, only: list[str]) -> list[Scenario]:
    every = scenarios(plan)
    if not only:
        return every
    return [s for s in every if any(text.lower() in s.name.lower() for text in only)]


async def scenario_or_failure(run: Run, spec: Scenario) -> report.Row:
    """The scenario's row; one that could not run is a failed row, and the run goes on
    if the system can be brought back."""
    try:
        return await run.scenario(spec)
    except Exception as exc:  # the suite's own trouble: reported, not hidden
        count = run.plan.backlog if spec.backlog else run.plan.apps
        row = report.Row(spec.name, count, lost=count, crash_window=spec.crash_window)
        row.notes.append(f"the scenario could not run: {type(exc).__name__}: {exc}")
        run.rows.append(row)
        await run.between_scenarios(row)  # raises if the system cannot be brought back
        return row


async def main_async(plan: Plan, picked: list[Scenario], workdir: Path) -> list[report.Row]:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    # Also SIGINT: a suite started in the background by a script has it ignored otherwise.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if task is not None:
            loop.add_signal_handler(signum, task.cancel)
    run = Run(plan, workdir)
    try:
        await run.start()
        for spec in picked:
            say(f"{spec.name} ...")
            row = await scenario_or_failure(run, spec)
            say(
                f"{row.scenario}: lost {row.lost}, twice {row.twice}, "
                f"recovered in {row.recover_seconds} s ({row.details.get('seconds')} s)"
            )
        await asyncio.sleep(plan.final_settle)
        run.recount()
        return run.rows
    finally:
        say("stopping everything the suite started")
        try:
            await asyncio.shield(run.close())
        finally:
            last_resort(run.system)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    # The clients' reconnection attempts during broker outages are expected, not news.
    for noisy in ("aio_pika", "aiormq"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    plan = PLANS[args.variant]
    if args.apps:
        plan = dataclasses.replace(plan, apps=args.apps)
    picked = chosen(plan, args.only)
    if args.list:
        print("\n".join(spec.name for spec in picked))
        return 0
    forget_stale_runs()
    workdir = Path(tempfile.mkdtemp(prefix="meter-faults-"))
    mark_owner(workdir)
    started = time.monotonic()
    rows: list[report.Row] = []
    try:
        rows = asyncio.run(main_async(plan, picked, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("[faults] interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            (workdir / KEPT).write_text("kept by --keep\n")
            say(f"work directory kept: {workdir}")
        else:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    seconds = time.monotonic() - started
    print(report.table(rows))
    if extra := report.notes(rows):
        print("\nNotes:\n" + extra)
    path = report.save(rows, plan.name, seconds, plan.settings())
    print(f"\n{report.verdict(rows)}\n{plan.name} run: {seconds / 60:.1f} min; saved {path}")
    return 0 if all(row.passed for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
