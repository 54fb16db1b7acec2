"""Reading the running system: CPU and memory of each process, and the services'
Prometheus counters."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import psutil

# --- processes ------------------------------------------------------------------------


def broker_process(port: int) -> psutil.Process | None:
    """The RabbitMQ serving the benchmark: the process listening on its AMQP port (another
    broker may run beside it, for someone else's tests), else the first ``beam.smp``."""
    try:
        for connection in psutil.net_connections("tcp"):
            listens = connection.status == psutil.CONN_LISTEN and connection.laddr.port == port
            if listens and connection.pid:
                return psutil.Process(connection.pid)
    except psutil.Error:
        pass
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if process.info["name"] == "beam.smp" and "rabbit" in " ".join(
                process.info["cmdline"] or []
            ):
                return process
        except (psutil.Error, TypeError):
            continue
    return None


def cpu_seconds(process: psutil.Process) -> float | None:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def peak_rss_kernel(pid: int) -> int | None:
    """The kernel's high-water mark of the process's resident memory (Linux), in bytes."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


@dataclass
class ProcessWatch:
    """Processes by name: CPU between marks, and peak RSS sampled (and from the kernel)."""

    processes: dict[str, psutil.Process] = field(default_factory=dict)
    # Whether the kernel's high-water mark belongs to this run (our own children only;
    # the broker has been running since before the benchmark).
    own: set[str] = field(default_factory=set)
    peak_rss: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, pid: int, *, own: bool = True) -> None:
        try:
            self.processes[name] = psutil.Process(pid)
        except psutil.Error:
            return
        if own:
            self.own.add(name)

    def sample(self) -> None:
        for name, process in self.processes.items():
            try:
                rss = int(process.memory_info().rss)
            except psutil.Error:
                continue
            if name in self.own:
                rss = max(rss, peak_rss_kernel(process.pid) or 0)
            self.peak_rss[name] = max(rss, self.peak_rss.get(name, 0))

    def cpu(self) -> dict[str, float | None]:
        return {name: cpu_seconds(process) for name, process in self.processes.items()}


def cpu_ms_per(
    before: dict[str, float | None], after: dict[str, float | None], count: int
) -> dict[str, float | None]:
    """CPU milliseconds per unit of work, per process, between two ``cpu()`` readings."""
    result: dict[str, float | None] = {}
    for name, start in before.items():
        end = after.get(name)
        result[name] = (
            None if start is None or end is None or count == 0 else (end - start) * 1000 / count
        )
    return result


# --- Prometheus -----------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of ``name`` in Prometheus text: its labels and value."""
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            try:
                value = float(match.group(3))
            except ValueError:
                continue
            found.append((dict(_LABEL.findall(match.group(2) or "")), value))
    return found


def counter_total(text: str, name: str) -> float | None:
    """The sum of every sample of counter ``name`` in Prometheus text; None if absent.

    ``name`` is the family name (``meter_db_commands_total`` matches itself, and
    ``meter_db_commands`` with prometheus-client's ``_total`` suffix too).
    """
    wanted = {name, name + "_total"} if not name.endswith("_total") else {name}
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match and match.group(1) in wanted:
            try:
                total += float(match.group(3))
            except ValueError:
                continue
            found = True
    return total if found else None


def scrape(port: int, timeout: float = 3.0) -> str | None:
    """``GET /metrics`` on 127.0.0.1:port, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
            return str(r.read().decode("utf-8", "replace"))
    except (OSError, urllib.error.URLError, ValueError):
        return None


def counters(ports: dict[str, int], name: str) -> dict[str, float | None]:
    result: dict[str, float | None] = {}
    for service, port in ports.items():
        text = scrape(port)
        result[service] = None if text is None else counter_total(text, name)
    return result
