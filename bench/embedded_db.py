"""The embedded MongoDB-compatible server's pool of command threads, as an experiment.

nx-27017 keeps one SQLite file per logical database (``--data-dir``), each behind a lock
of its own, and runs every command in a thread of asyncio's default pool, where it waits
for its database's lock. That pool has ``min(32, cores + 4)`` threads, 6 on two cores:
when one database has six commands waiting, every thread waits on that one lock and the
commands of the other databases, free to run, queue behind them. Each service owns a
database, so each service's commands can wait for the busiest service's queue.

``serve THREADS <nx-27017 arguments>`` runs nx-27017 with its commands in a pool of
``THREADS`` threads instead (and a 0.5 ms interpreter switch interval, so that a thread
back from SQLite is not held behind another database's Python work): a command then waits
only for its own database and the interpreter. ``serve per-database`` gives each database
one thread of its own instead (its lock lets one command run at a time anyway; beyond
``MANY_DATABASES`` databases the rest share a pool). ``make bench`` starts it so with
``BENCH_DB_THREADS``; ``make run``, the tests and the fault suite start nx-27017 plainly
(docs/performance.md, "The embedded server's pool of command threads", says why).

Without arguments it measures the difference (``.venv/bin/python -m bench.embedded_db``):
``BUSY`` clients insert batches into one database without a pause while one client reads
a single document from another ``QUICK`` times, each read checked; it prints the reads'
p50, p90 and max for each way of serving, medians over ``ROUNDS`` rounds, on freshly
started servers each round.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pymongo import AsyncMongoClient

from bench.procs import die_with_parent, free_port, wait_port

T = TypeVar("T")

SWITCH_INTERVAL = 0.0005  # Python's default is 5 ms
WIDE = 512  # threads: at most one command is in flight per client connection
PER_DATABASE = -1  # ``threads``: one thread for each database's commands
PER_DATABASE_ARGUMENT = "per-database"
MANY_DATABASES = 64  # beyond as many databases, commands share one pool
MANY_DATABASES_THREADS = 8
BUSY = 30
QUICK = 200
ROUNDS = 3
DOCUMENT = {"payload": "x" * 2000, "items": list(range(200))}


def command(port: int, data_dir: str, log_file: str, pid_file: str, threads: int) -> list[str]:
    """The command line of the server on 127.0.0.1:``port``: nx-27017 itself when
    ``threads`` is 0, else through ``serve`` with a pool of that many threads."""
    arguments = ["--host", "127.0.0.1", "-p", str(port), "--data-dir", data_dir]
    arguments += ["--log-file", log_file, "--pid-file", pid_file]
    if threads == 0:
        return [str(Path(sys.executable).with_name("nx-27017")), *arguments]
    pool = PER_DATABASE_ARGUMENT if threads == PER_DATABASE else str(threads)
    return [sys.executable, "-m", "bench.embedded_db", "serve", pool, *arguments]


def serve(threads: int, arguments: list[str]) -> int:
    from nx_27017 import handler, nx_27017, server

    shared = ThreadPoolExecutor(
        max_workers=threads if threads > 0 else MANY_DATABASES_THREADS,
        thread_name_prefix="nx-command",
    )
    own: dict[str, ThreadPoolExecutor] = {}

    def pool_for(args: tuple[Any, ...]) -> ThreadPoolExecutor:
        """The shared pool, or with ``PER_DATABASE`` the one thread of the command's
        database (the database's lock lets one command at a time run anyway)."""
        if threads != PER_DATABASE:
            return shared
        message = args[0] if args else None
        name = handler._msg_db_name(message) if isinstance(message, dict) else "test"
        pool = own.get(name)
        if pool is None:
            if len(own) >= MANY_DATABASES:
                return shared
            pool = own[name] = ThreadPoolExecutor(1, thread_name_prefix=f"nx-{name}"[:15])
        return pool

    async def to_thread(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``asyncio.to_thread`` in the command's pool, the context carried the same way."""
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(pool_for(args), call)

    # nx-27017 calls ``asyncio.to_thread`` through the module: this process's calls go to
    # ``pool`` (uvloop's loop too, which nx-27017 installs).
    assert server.asyncio is asyncio
    asyncio.to_thread = to_thread
    sys.setswitchinterval(SWITCH_INTERVAL)
    sys.argv = ["nx-27017", *arguments]
    return int(nx_27017.main() or 0)


async def _quick_reads(url: str) -> list[float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, maxPoolSize=BUSY + 10)
    try:
        busy, quiet = client["busy"]["t"], client["quiet"]["t"]
        await quiet.insert_one({"_id": "k", "n": 1})
        stop = asyncio.Event()

        async def keep_busy() -> None:
            while not stop.is_set():
                await busy.insert_many([dict(DOCUMENT) for _ in range(20)])

        writers = [asyncio.create_task(keep_busy()) for _ in range(BUSY)]
        await asyncio.sleep(1.0)  # every writer has its connection and a batch in flight
        waits = []
        for _ in range(QUICK):
            began = time.perf_counter()
            found = await quiet.find_one({"_id": "k"})
            waits.append((time.perf_counter() - began) * 1000)
            if found != {"_id": "k", "n": 1}:
                raise SystemExit(f"the quick read found {found!r}")
        stop.set()
        await asyncio.gather(*writers)
        return waits
    finally:
        await client.close()


def _one(threads: int, directory: str) -> list[float]:
    port = free_port()
    started = command(port, "memory", f"{directory}/nx.log", f"{directory}/nx.pid", threads)
    # No other thread runs yet when the server is started.
    server = subprocess.Popen(
        started,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,  # noqa: PLW1509
    )
    try:
        wait_port(port, "the embedded MongoDB-compatible server")
        return asyncio.run(_quick_reads(f"mongodb://127.0.0.1:{port}/?directConnection=true"))
    finally:
        server.kill()  # its data is in memory only
        server.wait(timeout=10)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure() -> None:
    names = {
        0: "nx-27017 as it comes",
        WIDE: f"{WIDE} threads (serve)",
        PER_DATABASE: "a thread per database",
    }
    figures: dict[int, list[tuple[float, float, float]]] = {}
    for round_ in range(1, ROUNDS + 1):
        for threads, name in names.items():
            with tempfile.TemporaryDirectory(prefix="meter-bench-db-") as directory:
                waits = _one(threads, directory)
            got = (_quantile(waits, 0.5), _quantile(waits, 0.9), max(waits))
            figures.setdefault(threads, []).append(got)
            print(f"round {round_}, {name}: p50/p90/max {got[0]:.1f}/{got[1]:.1f}/{got[2]:.1f} ms")
    print(f"a read of one document while another database is busy ({BUSY} writers), ms,")
    print(f"medians of {ROUNDS} rounds:")
    for threads, rounds in figures.items():
        p50, p90, top = (statistics.median(column) for column in zip(*rounds, strict=True))
        print(f"  {names[threads]:<22} p50 {p50:7.1f}   p90 {p90:7.1f}   max {top:7.1f}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"] and len(argv) >= 2 and argv[1] == PER_DATABASE_ARGUMENT:
        return serve(PER_DATABASE, argv[2:])
    if argv[:1] == ["serve"] and len(argv) >= 2 and argv[1].isdigit() and int(argv[1]) > 0:
        return serve(int(argv[1]), argv[2:])
    if argv:
        print(
            "usage: python -m bench.embedded_db [serve THREADS|per-database <nx-27017 arguments>]"
        )
        return 2
    measure()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
