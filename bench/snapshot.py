"""What a phase cost: readings taken before and after it, and their difference per lifecycle.

A reading holds each process's CPU time, each service's Prometheus text (``GET /metrics``
on its ``HEALTH_PORT``) and, with ``BENCH_DB_PROXY=1``, the counting proxy's. From two
readings, per service: CPU ms, database round trips (``meter_db_commands_total``, in all
and by command and collection) and settled deliveries by outcome
(``meter_messages_total``) per lifecycle, the mean time a handler took
(``meter_handler_seconds``: from reading a body to the outcome, waits for the database
included) and the mean time a database round trip took to be answered
(``meter_db_command_seconds``, as the service saw it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench import probes


@dataclass(frozen=True)
class Reading:
    cpu: dict[str, float | None]
    metrics: dict[str, str | None]  # service -> its /metrics text, None if nothing answered
    proxy: str | None  # the counting proxy's /metrics text


def take(
    watch: probes.ProcessWatch, health_ports: Mapping[str, int], proxy_port: int | None
) -> Reading:
    return Reading(
        cpu=watch.cpu(),
        metrics={service: probes.scrape(port) for service, port in health_ports.items()},
        proxy=None if proxy_port is None else probes.scrape(proxy_port),
    )


def _by(text: str | None, family: str, label: str | None) -> dict[str, float]:
    """A family's samples summed by one label's value (all together under "" if None)."""
    sums: dict[str, float] = {}
    for labels, value in probes.samples(text or "", family):
        key = labels.get(label, "") if label else ""
        sums[key] = sums.get(key, 0.0) + value
    return sums


def _delta(
    before: Mapping[str, float], after: Mapping[str, float], count: int, scale: float = 1.0
) -> dict[str, float]:
    return {
        key: round((value - before.get(key, 0.0)) * scale / count, 2)
        for key, value in sorted(after.items())
        if value != before.get(key, 0.0)
    }


def cores_busy(
    before: Mapping[str, float | None], after: Mapping[str, float | None], seconds: float
) -> dict[str, float | None]:
    """Per process, the CPU seconds it spent per second of ``seconds``: 1.0 is one core busy
    all the time (the most a single-threaded server such as the embedded database gets)."""
    shares: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        if start is None or end is None or seconds <= 0:
            shares[name] = None
        else:
            shares[name] = round((end - start) / seconds, 2)
    return shares


def db_round_trips(before: Reading, after: Reading, count: int) -> dict[str, float | None]:
    """Per service, per lifecycle: the services' own counters, else the proxy's."""
    result: dict[str, float | None] = {}
    if before.proxy is not None and after.proxy is not None:
        start = _by(before.proxy, "meter_db_commands_total", "service")
        end = _by(after.proxy, "meter_db_commands_total", "service")
        result = {s: round((end.get(s, 0) - start.get(s, 0)) / count, 2) for s in before.metrics}
    else:
        for service in before.metrics:
            start_text, end_text = before.metrics[service], after.metrics.get(service)
            if start_text is None or end_text is None:
                result[service] = None
                continue
            start_total = _by(start_text, "meter_db_commands_total", None).get("", 0.0)
            end_total = _by(end_text, "meter_db_commands_total", None).get("", 0.0)
            result[service] = round((end_total - start_total) / count, 2)
    if result and all(value is not None for value in result.values()):
        result["total"] = round(sum(value or 0.0 for value in result.values()), 2)
    return result


def costs(before: Reading, after: Reading, count: int) -> dict[str, Any]:
    cpu: dict[str, float | None] = {}
    for name, start in before.cpu.items():
        end = after.cpu.get(name)
        cpu[name] = None if start is None or end is None else round((end - start) * 1000 / count, 1)
    handler_ms: dict[str, float | None] = {}
    db_answer_ms: dict[str, float | None] = {}
    outcomes: dict[str, dict[str, float]] = {}
    for service in before.metrics:
        b, a = before.metrics[service], after.metrics.get(service)
        if b is None or a is None:
            continue
        handler_ms[service] = _mean_ms(b, a, "meter_handler_seconds", 1)
        db_answer_ms[service] = _mean_ms(b, a, "meter_db_command_seconds", 2)
        outcomes[service] = _delta(
            _by(b, "meter_messages_total", "outcome"),
            _by(a, "meter_messages_total", "outcome"),
            count,
        )
    result: dict[str, Any] = {
        "cpu_ms_per_lifecycle": cpu,
        "db_round_trips_per_lifecycle": db_round_trips(before, after, count),
        "handler_ms_mean": handler_ms,
        "db_answer_ms_mean": db_answer_ms,
        "messages_per_lifecycle_by_outcome": outcomes,
    }
    if before.proxy is not None and after.proxy is not None:
        result["db_commands_per_lifecycle"] = _delta(
            _commands(before.proxy), _commands(after.proxy), count
        )
    else:
        result["db_commands_per_lifecycle"] = _delta(
            _service_commands(before.metrics), _service_commands(after.metrics), count
        )
    return result


def _mean_ms(before: str, after: str, histogram: str, digits: int) -> float | None:
    """The mean of a histogram's observations between two readings, in milliseconds."""

    def total(text: str, sample: str) -> float:
        return _by(text, f"{histogram}_{sample}", None).get("", 0.0)

    seconds = total(after, "sum") - total(before, "sum")
    observed = total(after, "count") - total(before, "count")
    return round(seconds * 1000 / observed, digits) if observed > 0 else None


def _service_commands(metrics: Mapping[str, str | None]) -> dict[str, float]:
    """ "dispatcher:update work_orders" -> round trips so far, from the services' counters."""
    return {
        f"{service}:{command}": value
        for service, text in metrics.items()
        for command, value in _by(text, "meter_db_commands_total", "command").items()
    }


def _commands(text: str) -> dict[str, float]:
    return {
        f"{labels.get('service')}:{labels.get('command')}": value
        for labels, value in probes.samples(text, "meter_db_commands_total")
    }
