"""Printing the figures, and saving them: ``bench/results/<date>.json`` and a PNG chart of
latency against offered load."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.stats import median_of

RESULTS = Path(__file__).resolve().parent / "results"


def machine(broker_version: str | None) -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as info:  # Linux: the benchmark's machine
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "system": platform.platform(),
        "python": platform.python_version(),
        "rabbitmq": broker_version,
        "nx_27017": metadata.version("nx-27017"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _by_load(title: str, by_load: dict[str, dict[str, Any]], digits: int = 1) -> list[str]:
    """A figure per process for each load, one line per load; nothing if none was measured."""
    if not any(by_load.values()):
        return []
    return [title] + [
        f"  {label + ':':<16}"
        + ", ".join(f"{name} {_fmt(value, digits)}" for name, value in by.items())
        for label, by in by_load.items()
    ]


def _row(label: str, values: Sequence[Any], median: Any, digits: int = 1) -> str:
    cells = "".join(f"{_fmt(v, digits):>12}" for v in values)
    return f"{label:<44}{cells}{_fmt(median, digits):>12}"


def _get(run: dict[str, Any], *path: str) -> Any:
    value: Any = run
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _section(
    runs: list[dict[str, Any]], title: str, path: tuple[str, ...], medians: dict[str, Any]
) -> list[str]:
    """One row per key of ``medians``: each run's value at ``path + (key,)``, then the median."""
    lines = [title]
    for name, median in medians.items():
        lines.append(_row(f"  {name}", [_get(r, *path, name) for r in runs], median))
    return lines


def _scaling(runs: list[dict[str, Any]], scaling: dict[str, Any]) -> list[str]:
    """The drain phases: a backlog delivered by one notifier, then by two."""
    if not scaling:
        return []
    lines = ["notifier scaling: a backlog of notifications delivered by n notifiers"]
    for count, figures in scaling.items():
        phase = ("phases", f"drain-{count}")
        lines.append(
            _row(
                f"  {count} notifier(s): lifecycles/s",
                [_get(r, *phase, "backlog_lifecycles_per_s") for r in runs],
                figures["backlog_lifecycles_per_s"],
            )
        )
        cpu = figures.get("cpu_ms_per_lifecycle") or {}
        measured = [value for value in cpu.values() if value]
        notifiers = sum(value or 0 for name, value in cpu.items() if name.startswith("notifier"))
        ratio = figures.get("to_one_notifier")
        lines.append(
            f"    notifications/s {_fmt(figures['backlog_notifications_per_s'])}; CPU ms per "
            f"lifecycle: notifiers {_fmt(notifiers)}, all {_fmt(sum(measured))}"
            + (f"; {_fmt(ratio, 2)}× one notifier" if ratio else "")
        )
    return lines


def _alone(runs: list[dict[str, Any]], alone: dict[str, Any]) -> list[str]:
    """Registration with the intake alone: what the registration path does with the cores
    to itself and the broker and database, against the same load with the whole pipeline."""
    lines = []
    for label, figures in alone.items():
        phase = ("phases", f"alone-{label.split('/', 1)[0]}")
        lines.append(
            f"at {label} with the intake alone (dispatcher, notifiers, status stopped; "
            f"registered {_fmt(figures['registered_per_s'])}/s)"
        )
        for q in ("p50", "p95", "p99"):
            values = [_get(r, *phase, "registration_ms", q) for r in runs]
            lines.append(_row(f"  registration {q} ms", values, figures["registration_ms"][q], 0))
        # The processes stopped meanwhile have no figure.
        busy = {n: v for n, v in figures["cores_busy_while_offered"].items() if v is not None}
        lines.append(
            "  cores busy: "
            + ", ".join(f"{name} {_fmt(value, 2)}" for name, value in busy.items())
            + f"; all {_fmt(sum(busy.values()), 2)}"
        )
    return lines


def text(result: dict[str, Any]) -> str:
    runs, summary, options = result["runs"], result["summary"], result["options"]
    sat = ("phases", "saturation")
    head = "".join(f"{'run ' + str(r['run']):>12}" for r in runs)
    lines = [
        f"{'':<44}{head}{'median':>12}",
        _row(
            "lifecycles/s (saturation: submitted→completed)",
            [_get(r, *sat, "lifecycles_per_s") for r in runs],
            summary["lifecycles_per_s"],
        ),
    ]
    for run in runs:
        fifths = _get(run, *sat, "lifecycles_per_s_by_fifth") or []
        if fifths:
            lines.append(
                f"  run {run['run']}: lifecycles/s by fifth of the completions: "
                + ", ".join(_fmt(value) for value in fifths)
            )
    lines.append(
        _row(
            "  notified/s (until every e-mail and SMS is in)",
            [_get(r, *sat, "notified_per_s") for r in runs],
            summary["notified_per_s"],
        )
    )
    loads = [(f"open-{rate:g}", f"{rate:g}/s offered") for rate in options["rates"]]
    for phase, label in [*loads, ("saturation", "saturation")]:
        achieved = summary["achieved_per_s"][label]
        offered = (
            "" if phase == "saturation" else f"submitted {_fmt(achieved['submitted_per_s'])}/s, "
        )
        lines.append(
            f"at {label} ({offered}registered {_fmt(achieved['registered_per_s'])}/s, "
            f"completed {_fmt(achieved['lifecycles_per_s'])}/s)"
        )
        for key, name, medians in (
            ("registration_ms", "registration", summary["registration_ms"][label]),
            (
                "submit_to_completed_ms",
                "submit→completed",
                summary["submit_to_completed_by_load_ms"][label],
            ),
        ):
            for q in ("p50", "p95", "p99"):
                values = [_get(r, "phases", phase, key, q) for r in runs]
                lines.append(_row(f"  {name} {q} ms", values, medians[q], 0))
    ratio = summary["pipeline_to_raw"]
    lines += [
        _row(
            "pipeline deliveries/s (saturation)",
            [_get(r, *sat, "pipeline_deliveries_per_s") for r in runs],
            summary["pipeline_deliveries_per_s"],
        ),
        _row(
            "  deliveries per lifecycle",
            [_get(r, *sat, "deliveries_per_lifecycle") for r in runs],
            summary["deliveries_per_lifecycle"],
        ),
        _row(
            "raw aio-pika deliveries/s (same run)",
            [_get(r, "raw", "deliveries_per_s") for r in runs],
            summary["raw_deliveries_per_s"],
        ),
        _row(
            "  broker CPU ms per raw delivery",
            [_get(r, "raw", "broker_cpu_ms_per_delivery") for r in runs],
            summary["raw_broker_cpu_ms_per_delivery"],
            3,
        ),
        f"{'pipeline / raw':<44}{'':>{12 * len(runs)}}{_fmt(ratio and ratio * 100, 2):>11}%",
    ]
    lines += _section(
        runs, "CPU ms per lifecycle (saturation)", (*sat, "cpu_ms_per_lifecycle"),
        summary["cpu_ms_per_lifecycle"],
    )  # fmt: skip
    total, bound = summary["cpu_ms_per_lifecycle_total"], summary["cpu_bound_lifecycles_per_s"]
    lines.append(
        f"  all together {_fmt(total)} ms: at most {_fmt(bound)} notified lifecycles/s on "
        f"{result['machine']['cpus']} cores, however the work is spread"
    )
    lines += _section(
        runs, "peak RSS MB (max of the runs)", ("peak_rss_mb",), summary["peak_rss_mb"]
    )
    trips = summary["db_round_trips_per_lifecycle"]
    lines += _section(
        runs, "database round trips per lifecycle (saturation)",
        (*sat, "db_round_trips_per_lifecycle"), trips,
    )  # fmt: skip
    by_load = summary.get("db_round_trips_total_by_load") or {}
    if any(value is not None for value in by_load.values()):
        lines.append(
            "  total by load: "
            + ", ".join(f"{label} {_fmt(value)}" for label, value in by_load.items())
        )
    if not trips or all(value is None for value in trips.values()):
        lines.append(
            "  n/a: the services export no meter_db_commands_total on HEALTH_PORT's /metrics "
            "(BENCH_DB_PROXY=1 counts them through a proxy)"
        )
    lines += _by_load(
        "cores busy while the load was offered (CPU s per s; 1.0 = one core):",
        summary.get("cores_busy_while_offered_by_load") or {}, digits=2,
    )  # fmt: skip
    lines += _by_load(
        "mean database answer time, ms per round trip (as each service saw it):",
        summary.get("db_answer_ms_mean_by_load") or {},
    )  # fmt: skip
    lines += _section(
        runs, "mean handler time, ms per delivery (saturation)",
        (*sat, "handler_ms_mean"), summary["handler_ms_mean"],
    )  # fmt: skip
    lines += _alone(runs, summary.get("registration_alone") or {})
    lines += _scaling(runs, summary.get("notifier_scaling") or {})
    notes = summary["notifications"]
    lines.append(
        f"notifications: expected {notes['expected']}, received {notes['received']}, "
        f"lost {notes['lost']}, duplicated {notes['duplicated']}, unexpected {notes['unexpected']}"
    )
    sources = [r.get("assignments_learnt_from") for r in runs]
    unmatched = [r.get("unmatched_replies") for r in runs]
    lines.append(f"assignments learnt from, per run: {sources}; unmatched replies: {unmatched}")
    return "\n".join(lines)


def save(result: dict[str, Any], stamp: str, directory: Path = RESULTS) -> tuple[Path, Path | None]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    chart = directory / f"{stamp}.png"
    return path, chart if plot(result, chart) else None


def plot(result: dict[str, Any], path: Path) -> bool:
    """Latency percentiles against offered load: open-loop loads joined by a line through
    the medians of the runs, saturation (closed loop) a star at the registration rate it
    reached; each run's value a faint point."""
    runs, options = result["runs"], result["options"]
    loads = [(f"open-{rate:g}", rate) for rate in options["rates"]] + [("saturation", None)]
    if not any(_get(run, "phases", phase) for run in runs for phase, _ in loads):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def points(phase: str, rate: float | None, key: str, q: str) -> list[tuple[float, float]]:
        found = [f for run in runs if (f := _get(run, "phases", phase))]
        return [
            (float(rate if rate is not None else f.get("registered_per_s") or 0), f[key][q])
            for f in found
            if f[key][q] is not None
        ]

    def middle(values: list[tuple[float, float]]) -> tuple[float, float]:
        return median_of(x for x, _ in values) or 0.0, median_of(y for _, y in values) or 0.0

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for axis, key, title in (
        (axes[0], "registration_ms", "registration (submitted → registered reply)"),
        (axes[1], "submit_to_completed_ms", "submitted → completed"),
    ):
        for q, style in (("p50", "o-"), ("p95", "s--"), ("p99", "^:")):
            open_loop = [points(phase, rate, key, q) for phase, rate in loads[:-1]]
            line_points = [middle(found) for found in open_loop if found]
            (line,) = axis.plot(*zip(*line_points, strict=True), style, label=f"{q} open loop")
            color = line.get_color()
            saturated = points("saturation", None, key, q)
            if saturated:
                x, y = middle(saturated)
                axis.plot([x], [y], "*", markersize=14, color=color, label=f"{q} saturation")
            each = [point for found in open_loop for point in found] + saturated
            axis.scatter(*zip(*each, strict=True), alpha=0.3, s=12, color=color)
        axis.set_yscale("log")
        axis.set_xlabel("submissions/s: offered (open loop) or registered (saturation, ★)")
        axis.set_ylabel("latency, ms")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    figure.suptitle(
        f"make bench {result['started_at'][:16]}: {len(runs)} run(s), "
        f"{options['applications']} applications at saturation ({options['concurrency']} in flight)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
