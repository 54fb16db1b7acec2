"""What ``make bench`` is asked to do: ``BENCH_*`` environment variables, checked at start.

    BENCH_APPLICATIONS   applications in the closed-loop (saturation) phase of a run  2000
    BENCH_RUNS           runs, each on a freshly started system; figures are medians   3
    BENCH_CONCURRENCY    submissions in flight at saturation; raw baseline in flight   32
    BENCH_RATES          open-loop offered loads, submissions per second               20,50
    BENCH_OPEN_SECONDS   how long each open-loop load is offered (at most
                         BENCH_APPLICATIONS submissions)                               20
    BENCH_RAW_REQUESTS   request/replies of the raw aio-pika baseline per run          10000
    BENCH_STALL_SECONDS  a phase fails when nothing progresses for this long           120
    BENCH_DB_PROXY       1: count database round trips through a counting proxy in
                         front of the database (adds a hop), for services without
                         ``meter_db_commands_total``                                   0
    BENCH_NOTIFIERS      notifier processes (``notifier``, ``notifier-2``…), each its
                         own figures                                                   1
    BENCH_NOTIFIER_NICE  the notifiers' CPU priority (``nice``, 0 to 19): higher yields
                         the CPU to the other services when both want it               0
    BENCH_DB_THREADS     the embedded database server's command threads: 0 runs
                         nx-27017 as it comes (``min(32, cores + 4)``), N > 0 a pool
                         of N, per-database one thread for each database's commands
                         (``bench/embedded_db.py``; an experiment)                      0
    BENCH_DRAIN          notifier scaling, after saturation: with the notifiers
                         stopped, this many applications run to completed, then one
                         notifier delivers their backlog; again with two (at most
                         BENCH_APPLICATIONS each); 0: skipped                         1000
    BENCH_ALONE          registration with the intake alone, after saturation: the
                         dispatcher, notifiers and status stopped, submissions
                         offered at this rate (per second) for BENCH_OPEN_SECONDS;
                         then the others start again and every application runs to
                         completed; 0 or none: skipped                                 50

Quick try: ``BENCH_APPLICATIONS=200 BENCH_RUNS=1 make bench``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.embedded_db import PER_DATABASE, PER_DATABASE_ARGUMENT

DRAIN_NOTIFIERS = (1, 2)  # notifier processes delivering each backlog, in this order


class OptionError(ValueError):
    """A BENCH_* variable that cannot be used; the text names it and what it expects."""


@dataclass(frozen=True)
class Options:
    applications: int = 2000
    runs: int = 3
    concurrency: int = 32
    rates: tuple[float, ...] = (20.0, 50.0)
    open_seconds: float = 20.0
    raw_requests: int = 10000
    stall_seconds: float = 120.0
    db_proxy: bool = False
    notifiers: int = 1
    notifier_nice: int = 0
    db_threads: int = 0
    drain: int = 1000
    alone: float = 50.0

    def open_loop_count(self, rate: float) -> int:
        """Submissions offered at ``rate``: ``open_seconds`` worth, at most ``applications``."""
        return max(1, min(self.applications, round(rate * self.open_seconds)))

    def applications_per_run(self) -> int:
        open_loop = sum(self.open_loop_count(rate) for rate in self.rates)
        alone = self.open_loop_count(self.alone) if self.alone else 0
        return self.applications + open_loop + alone + len(DRAIN_NOTIFIERS) * self.drain_count()

    def drain_count(self) -> int:
        """Applications in each notifier-scaling backlog: ``drain``, at most ``applications``."""
        return min(self.drain, self.applications)


def _whole(env: Mapping[str, str], name: str, default: int, least: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < least:
        raise OptionError(f"{name}={raw!r}: expected a whole number, at least {least}")
    return int(raw)


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise OptionError(f"{name}={raw!r}: expected a number of seconds, more than 0")
    return value


def _rates(env: Mapping[str, str]) -> tuple[float, ...]:
    raw = env.get("BENCH_RATES", "").strip()
    if not raw:
        return Options.rates
    if raw in {"0", "none"}:
        return ()
    rates = []
    for item in raw.split(","):
        try:
            rate = float(item)
        except ValueError:
            rate = -1.0
        if not rate > 0 or rate == float("inf"):
            raise OptionError(
                f"BENCH_RATES={raw!r}: expected submissions per second separated by commas "
                "(e.g. 20,50), each more than 0; or none"
            )
        rates.append(rate)
    return tuple(rates)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no"}:
        return False
    if raw in {"1", "true", "yes"}:
        return True
    raise OptionError(f"{name}={raw!r}: expected 1 or 0")


def _nice(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 19:
        raise OptionError(f"{name}={raw!r}: expected a whole number from 0 to 19")
    return int(raw)


def _alone(env: Mapping[str, str]) -> float:
    raw = env.get("BENCH_ALONE", "").strip()
    if raw in {"0", "none"}:
        return 0.0
    try:
        return _positive(env, "BENCH_ALONE", Options.alone)
    except OptionError:
        raise OptionError(
            f"BENCH_ALONE={raw!r}: expected submissions per second, more than 0; or 0 or none"
        ) from None


def _db_threads(env: Mapping[str, str]) -> int:
    raw = env.get("BENCH_DB_THREADS", "").strip()
    if raw == PER_DATABASE_ARGUMENT:
        return PER_DATABASE
    if raw and not (raw.isascii() and raw.isdigit()):
        raise OptionError(
            f"BENCH_DB_THREADS={raw!r}: expected a whole number, at least 0, "
            f"or {PER_DATABASE_ARGUMENT}"
        )
    return _whole(env, "BENCH_DB_THREADS", Options.db_threads, least=0)


def from_env(env: Mapping[str, str]) -> Options:
    return Options(
        applications=_whole(env, "BENCH_APPLICATIONS", Options.applications),
        runs=_whole(env, "BENCH_RUNS", Options.runs),
        concurrency=_whole(env, "BENCH_CONCURRENCY", Options.concurrency),
        rates=_rates(env),
        open_seconds=_positive(env, "BENCH_OPEN_SECONDS", Options.open_seconds),
        raw_requests=_whole(env, "BENCH_RAW_REQUESTS", Options.raw_requests),
        stall_seconds=_positive(env, "BENCH_STALL_SECONDS", Options.stall_seconds),
        db_proxy=_flag(env, "BENCH_DB_PROXY"),
        notifiers=_whole(env, "BENCH_NOTIFIERS", Options.notifiers),
        notifier_nice=_nice(env, "BENCH_NOTIFIER_NICE"),
        db_threads=_db_threads(env),
        drain=_whole(env, "BENCH_DRAIN", Options.drain, least=0),
        alone=_alone(env),
    )
