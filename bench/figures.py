"""From timestamps and counters to the figures a run reports, and from runs to the summary
(pure: timestamps in, numbers out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.follow import Application
from bench.stats import latency_summary, median_of


def rate(count: int, seconds: float) -> float | None:
    return round(count / seconds, 2) if seconds > 0 else None


def by_fifth(first: float, done: Sequence[float]) -> list[float | None]:
    """Completions per second in each fifth of the completions, in order: a rate that falls
    from fifth to fifth is a system slowing down as its data grows (the first fifth also
    holds the start, before the pipeline is full)."""
    ends = sorted(done)
    if len(ends) < 5:
        return []
    cuts = [round(len(ends) * k / 5) for k in range(6)]
    starts = [first, *[ends[cut - 1] for cut in cuts[1:-1]]]
    return [rate(cuts[k + 1] - cuts[k], ends[cuts[k + 1] - 1] - starts[k]) for k in range(5)]


def by_second(submitted: Sequence[float], seconds: Sequence[float]) -> list[list[float | None]]:
    """Registration latency, p50 and max in ms, of the submissions due in each second from
    the first: a backlog that builds up (latency rising second after second while load is
    offered) tells a system short of capacity from a stall (one bad second, then normal)."""
    if not submitted:
        return []
    first = min(submitted)
    buckets: list[list[float]] = [[] for _ in range(int(max(submitted) - first) + 1)]
    for due, latency in zip(submitted, seconds, strict=True):
        buckets[int(due - first)].append(latency)
    rows: list[list[float | None]] = []
    for bucket in buckets:
        summary = latency_summary(bucket)
        rows.append([summary["p50"], summary["max"]])
    return rows


def phase_figures(
    name: str, offered: float | None, apps: Sequence[Application], completed: Mapping[str, float]
) -> dict[str, Any]:
    """Rates and latencies of one phase (every application registered and completed)."""
    submitted = [app.submitted for app in apps]
    registered = [app.registered or app.submitted for app in apps]
    done = [completed[app.number] for app in apps if app.number and app.number in completed]
    first = min(submitted)
    return {
        "phase": name,
        "offered_per_s": offered,
        "applications": len(apps),
        # Between the first and the last submission: the load actually offered.
        "submitted_per_s": rate(len(apps) - 1, max(submitted) - first),
        "registered_per_s": rate(len(apps), max(registered) - first),
        "lifecycles_per_s": rate(len(done), max(done) - first) if done else None,
        "lifecycles_per_s_by_fifth": by_fifth(first, done),
        "duration_s": round(max(done or registered) - first, 2),
        "registration_ms": latency_summary(
            [r - s for r, s in zip(registered, submitted, strict=True)]
        ),
        "registration_ms_by_second": by_second(
            submitted, [r - s for r, s in zip(registered, submitted, strict=True)]
        ),
        "submit_to_completed_ms": latency_summary(
            [
                completed[app.number] - app.submitted
                for app in apps
                if app.number and app.number in completed
            ]
        ),
    }


def per_unit(
    before: Mapping[str, float | None], after: Mapping[str, float | None], count: int
) -> dict[str, float | None]:
    """(after - before) / count per key, rounded; None where either reading is missing."""
    result: dict[str, float | None] = {}
    for key, start in before.items():
        end = after.get(key)
        result[key] = (
            None if start is None or end is None or count == 0 else round((end - start) / count, 2)
        )
    return result


def deliveries_by_service(
    before: Mapping[str, int], after: Mapping[str, int], owner: Mapping[str, str]
) -> dict[str, int]:
    """Deliveries between two readings of the per-queue counters, summed per service."""
    result: dict[str, int] = {}
    for queue, service in owner.items():
        result[service] = result.get(service, 0) + after.get(queue, 0) - before.get(queue, 0)
    return result


def _pick(run: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = run
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def median_over_runs(runs: Sequence[Mapping[str, Any]], *path: str) -> float | None:
    return median_of(_pick(run, path) for run in runs)


def summarise(
    runs: Sequence[Mapping[str, Any]], rates: Sequence[float], cpus: int = 2
) -> dict[str, Any]:
    """Medians over the runs of every headline figure."""
    sat = ("phases", "saturation")
    summary: dict[str, Any] = {
        "lifecycles_per_s": median_over_runs(runs, *sat, "lifecycles_per_s"),
        "submit_to_completed_ms": {
            q: median_over_runs(runs, *sat, "submit_to_completed_ms", q)
            for q in ("p50", "p95", "p99")
        },
        "registration_ms": {},
        "pipeline_deliveries_per_s": median_over_runs(runs, *sat, "pipeline_deliveries_per_s"),
        "raw_deliveries_per_s": median_over_runs(runs, "raw", "deliveries_per_s"),
        "raw_broker_cpu_ms_per_delivery": median_over_runs(
            runs, "raw", "broker_cpu_ms_per_delivery"
        ),
        "deliveries_per_lifecycle": median_over_runs(runs, *sat, "deliveries_per_lifecycle"),
    }
    pipeline, raw = summary["pipeline_deliveries_per_s"], summary["raw_deliveries_per_s"]
    summary["pipeline_to_raw"] = round(pipeline / raw, 4) if pipeline and raw else None
    loads = [(f"open-{r:g}", f"{r:g}/s offered") for r in rates] + [("saturation", "saturation")]
    for phase, label in loads:
        summary["registration_ms"][label] = {
            q: median_over_runs(runs, "phases", phase, "registration_ms", q)
            for q in ("p50", "p95", "p99")
        }
        summary.setdefault("submit_to_completed_by_load_ms", {})[label] = {
            q: median_over_runs(runs, "phases", phase, "submit_to_completed_ms", q)
            for q in ("p50", "p95", "p99")
        }
        summary.setdefault("achieved_per_s", {})[label] = {
            key: median_over_runs(runs, "phases", phase, key)
            for key in ("submitted_per_s", "registered_per_s", "lifecycles_per_s")
        }
        # Writes made together go out together: fewer round trips the busier the system.
        summary.setdefault("db_round_trips_total_by_load", {})[label] = median_over_runs(
            runs, "phases", phase, "db_round_trips_per_lifecycle", "total"
        )
        busy = sorted(
            {
                n
                for run in runs
                for n in _pick(run, ("phases", phase, "cores_busy_while_offered")) or {}
            }
        )
        summary.setdefault("cores_busy_while_offered_by_load", {})[label] = {
            name: median_over_runs(runs, "phases", phase, "cores_busy_while_offered", name)
            for name in busy
        }
        # How long a round trip waited for its answer: the database's queue shows here.
        answered = sorted(
            {n for run in runs for n in _pick(run, ("phases", phase, "db_answer_ms_mean")) or {}}
        )
        summary.setdefault("db_answer_ms_mean_by_load", {})[label] = {
            name: median_over_runs(runs, "phases", phase, "db_answer_ms_mean", name)
            for name in answered
        }
    processes = sorted(
        {name for run in runs for name in _pick(run, (*sat, "cpu_ms_per_lifecycle")) or {}}
    )
    summary["cpu_ms_per_lifecycle"] = {
        name: median_over_runs(runs, *sat, "cpu_ms_per_lifecycle", name) for name in processes
    }
    # On a machine of ``cpus`` cores, the CPU every process spends per lifecycle bounds the
    # lifecycles per second, however the work is spread.
    measured = [value for value in summary["cpu_ms_per_lifecycle"].values() if value]
    total = round(sum(measured), 1) if measured else None
    summary["cpu_ms_per_lifecycle_total"] = total
    summary["cpu_bound_lifecycles_per_s"] = round(cpus * 1000 / total, 1) if total else None
    summary["notified_per_s"] = median_over_runs(runs, *sat, "notified_per_s")
    summary["peak_rss_mb"] = {
        name: max((_pick(run, ("peak_rss_mb", name)) or 0) for run in runs) or None
        for name in sorted({name for run in runs for name in run.get("peak_rss_mb", {})})
    }
    services = sorted(
        {n for run in runs for n in _pick(run, (*sat, "db_round_trips_per_lifecycle")) or {}}
    )
    summary["db_round_trips_per_lifecycle"] = {
        name: median_over_runs(runs, *sat, "db_round_trips_per_lifecycle", name)
        for name in services
    }
    handlers = sorted({n for run in runs for n in _pick(run, (*sat, "handler_ms_mean")) or {}})
    summary["handler_ms_mean"] = {
        name: median_over_runs(runs, *sat, "handler_ms_mean", name) for name in handlers
    }
    summary["notifier_scaling"] = notifier_scaling(runs)
    summary["registration_alone"] = registration_alone(runs)
    summary["notifications"] = {
        key: sum((_pick(run, ("notifications", key)) or 0) for run in runs)
        for key in ("expected", "received", "lost", "duplicated", "unexpected")
    }
    return summary


def registration_alone(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per rate offered with the intake alone (the ``alone-<rate>`` phases): medians over the
    runs of the rate registered, the registration's percentiles and the cores each process
    kept busy."""
    phases = sorted(
        {phase for run in runs for phase in run.get("phases", {}) if phase.startswith("alone-")}
    )
    result: dict[str, Any] = {}
    for name in phases:
        phase = ("phases", name)
        busy = sorted(
            {n for run in runs for n in _pick(run, (*phase, "cores_busy_while_offered")) or {}}
        )
        result[name.split("-", 1)[1] + "/s offered"] = {
            "registered_per_s": median_over_runs(runs, *phase, "registered_per_s"),
            "registration_ms": {
                q: median_over_runs(runs, *phase, "registration_ms", q)
                for q in ("p50", "p95", "p99")
            },
            "cores_busy_while_offered": {
                n: median_over_runs(runs, *phase, "cores_busy_while_offered", n) for n in busy
            },
        }
    return result


def notifier_scaling(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per number of notifiers (the ``drain-<n>`` phases): medians over the runs of how fast
    they delivered a backlog, and the ratio to one notifier (per run, then the median)."""
    counts = sorted(
        {
            int(phase.split("-", 1)[1])
            for run in runs
            for phase in run.get("phases", {})
            if phase.startswith("drain-")
        }
    )
    result: dict[str, Any] = {}
    for count in counts:
        phase = ("phases", f"drain-{count}")
        cpu = sorted(
            {n for run in runs for n in _pick(run, (*phase, "cpu_ms_per_lifecycle")) or {}}
        )
        result[str(count)] = {
            "backlog_lifecycles_per_s": median_over_runs(runs, *phase, "backlog_lifecycles_per_s"),
            "backlog_notifications_per_s": median_over_runs(
                runs, *phase, "backlog_notifications_per_s"
            ),
            "cpu_ms_per_lifecycle": {
                name: median_over_runs(runs, *phase, "cpu_ms_per_lifecycle", name) for name in cpu
            },
            "db_round_trips_per_lifecycle": median_over_runs(
                runs, *phase, "db_round_trips_per_lifecycle", "total"
            ),
        }
        ratios = [
            _pick(run, (*phase, "backlog_lifecycles_per_s"))
            / _pick(run, ("phases", "drain-1", "backlog_lifecycles_per_s"))
            for run in runs
            if _pick(run, (*phase, "backlog_lifecycles_per_s"))
            and _pick(run, ("phases", "drain-1", "backlog_lifecycles_per_s"))
        ]
        ratio = median_of(ratios) if count > 1 else None
        result[str(count)]["to_one_notifier"] = None if ratio is None else round(ratio, 2)
    return result
