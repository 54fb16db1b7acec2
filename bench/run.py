"""One benchmark run on a freshly started system: the raw baseline, then each phase (open
loop at each rate, then saturation), each measured from its first submission until its
notifications have all arrived; then registration with the intake alone (``Run.alone``);
then the notifier-scaling backlogs (``Run.drain``); then every application's status and
every notification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from bench import follow, load, probes, raw, snapshot
from bench.amqp import BenchFailure, Follower, Pool, Rpc
from bench.figures import deliveries_by_service, phase_figures
from bench.notifications import CHANNELS, LIFECYCLE_STEPS, SinkCounter, expected_keys, tally
from bench.options import DRAIN_NOTIFIERS, Options
from bench.system import System
from shared.contracts.registry import Service
from shared.topology import queues_of

QUEUE_OWNER = {queue.name: service.value for service in Service for queue in queues_of(service)}
# Stopped while the intake is measured alone (``Run.alone``); the notifier's instances too.
PIPELINE = frozenset({Service.DISPATCHER.value, Service.NOTIFIER.value, Service.STATUS.value})
FOLLOW = [
    ("meter.events", "application.completed"),
    ("meter.events", "application.rejected"),
    ("meter.events", "application.assigned"),  # where field apps learnt work orders before
    ("meter.field", "team.#"),
]


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


async def notifications_settled(
    sinks: SinkCounter, numbers: Iterable[str], since: float, stall: float, poll: float = 0.5
) -> float | None:
    """Seconds after ``since`` until every notification due arrived; None when they stop
    arriving (the final tally then names what is lost)."""
    expected = expected_keys(numbers)
    last_count, moved = -1, time.perf_counter()
    while True:
        count = sinks.refresh()
        if all(sinks.counts[key] for key in expected):
            return round(time.perf_counter() - since, 2)
        if count != last_count:
            last_count, moved = count, time.perf_counter()
        elif time.perf_counter() - moved > stall:
            return None
        await asyncio.sleep(poll)


async def watch_over(system: System, watch: probes.ProcessWatch, tracker: follow.Tracker) -> None:
    """Samples memory twice a second; a process of the system that exits fails the run."""
    while True:
        watch.sample()
        for name, process in system.children:
            if process.poll() is not None:
                tracker.fail(f"{name} exited with code {process.returncode}")
        await asyncio.sleep(0.5)


class Run:
    def __init__(self, system: System, options: Options, number: int) -> None:
        self.system, self.options, self.number = system, options, number
        self.tracker = follow.Tracker()
        clients = min(4, options.concurrency)
        self.pool = Pool([Rpc(system.url, "bench-portal") for _ in range(clients)])
        self.field_rpc = Rpc(system.url, "bench-field-app")
        self.field = follow.FieldTeam(self.field_rpc, self.tracker, options.stall_seconds)
        handler = follow.on_message(self.tracker, self.field)
        self.follower = Follower(system.url, FOLLOW, handler, self.tracker.fail)
        self.sinks = SinkCounter(system.mail_dir, system.sms_dir)
        self.watch = probes.ProcessWatch()
        for name, process in system.children:
            self.watch.add(name, process.pid)
        self.watch.add("load", os.getpid())  # the portal clients and field team: this process
        broker = probes.broker_process(urllib.parse.urlsplit(system.url).port or 5672)
        if broker is not None:
            self.watch.add("broker", broker.pid, own=False)
        self.result: dict[str, Any] = {"run": number, "phases": {}}

    def reading(self) -> snapshot.Reading:
        system = self.system
        return snapshot.take(self.watch, system.health_ports, system.db_metrics_port)

    async def measure(self) -> dict[str, Any]:
        sampler = asyncio.create_task(watch_over(self.system, self.watch, self.tracker))
        try:
            await self.pool.start()
            await self.field_rpc.start()
            await self.follower.start()
            requests, concurrency = self.options.raw_requests, self.options.concurrency
            say(f"run {self.number}: raw aio-pika baseline, {requests} request/replies")
            before = self.watch.cpu().get("broker")
            self.result["raw"] = await raw.measure(self.system.url, requests, concurrency)
            after = self.watch.cpu().get("broker")
            if before is not None and after is not None:  # the broker's cost of one delivery
                per = (after - before) * 1000 / requests
                self.result["raw"]["broker_cpu_ms_per_delivery"] = round(per, 3)
            say(f"run {self.number}: raw {self.result['raw']['deliveries_per_s']:.0f} deliveries/s")
            await self.phases()
        finally:
            sampler.cancel()
            for closing in (self.follower.close(), self.field_rpc.close(), self.pool.close()):
                with contextlib.suppress(Exception):
                    await closing
            self.watch.sample()
            self.result["peak_rss_mb"] = {
                name: round(rss / 2**20, 1) for name, rss in sorted(self.watch.peak_rss.items())
            }
            self.result["assignments_learnt_from"] = dict(self.tracker.assignments)
            self.result["unmatched_replies"] = self.field_rpc.unmatched + sum(
                client.unmatched for client in self.pool.clients
            )
        return self.result

    async def phases(self) -> None:
        options = self.options
        plan: list[tuple[str, float | None, int]] = [
            (f"open-{rate:g}", rate, options.open_loop_count(rate)) for rate in options.rates
        ]
        plan.append(("saturation", None, options.applications))
        deliveries = await self.deliveries()
        start, everything = 0, []
        for name, rate, count in plan:
            offered = f"{rate:g}/s offered" if rate else f"{options.concurrency} in flight"
            say(f"run {self.number}: {name}: {count} applications, {offered}")
            before = self.reading()
            offered_from = time.monotonic()
            apps = await self.offer(list(range(start, start + count)), rate)
            busy = snapshot.cores_busy(
                before.cpu, self.watch.cpu(), time.monotonic() - offered_from
            )
            start += count
            numbers = [app.number for app in apps if app.number]
            await load.until_completed(self.tracker, numbers, options.stall_seconds)
            last = max(self.tracker.completed[number] for number in numbers)
            figures = phase_figures(name, rate, apps, self.tracker.completed)
            settled = await notifications_settled(self.sinks, numbers, last, options.stall_seconds)
            figures["notifications_settled_after_s"] = settled
            # A lifecycle the citizen has heard the end of: every e-mail and SMS delivered.
            first = min(app.submitted for app in apps)
            figures["notified_per_s"] = (
                None if settled is None else round(count / (last + settled - first), 2)
            )
            figures |= snapshot.costs(before, self.reading(), count)
            # While the load was offered (registration's time): which process was the limit.
            figures["cores_busy_while_offered"] = busy
            after = await self.deliveries()
            by_service = deliveries_by_service(deliveries, after, QUEUE_OWNER)
            deliveries = after
            per_lifecycle = round(sum(by_service.values()) / count, 2)
            figures["deliveries_per_lifecycle"] = per_lifecycle
            figures["deliveries_per_lifecycle_by_service"] = {
                service: round(n / count, 2) for service, n in by_service.items()
            }
            lifecycles = figures["lifecycles_per_s"]
            figures["pipeline_deliveries_per_s"] = (
                round(per_lifecycle * lifecycles, 1) if lifecycles else None
            )
            self.result["phases"][name] = figures
            say(f"run {self.number}: {name}: " + brief(figures))
            everything += apps
        if options.alone:
            count = options.open_loop_count(options.alone)
            everything += await self.alone(options.alone, start, count)
            start += count
        for instances in DRAIN_NOTIFIERS if options.drain_count() else ():
            everything += await self.drain(instances, start, options.drain_count())
            start += options.drain_count()
        say(f"run {self.number}: asking status for each of {len(everything)} applications")
        self.result["status_completed"] = await load.check_status(
            self.pool, everything, options.concurrency, options.stall_seconds
        )
        self.result["notifications"] = await self.final_tally(
            [app.number for app in everything if app.number]
        )

    async def drain(self, instances: int, start: int, count: int) -> list[follow.Application]:
        """How fast ``instances`` notifiers deliver a backlog: with the notifiers stopped,
        ``count`` applications run to ``completed`` (their notifications wait in the
        notifier's queue), then the notifiers start together. Measured from the first of
        the backlog's notifications in the sinks (so the processes' start is not counted)
        until the last; each notification is checked like every other."""
        name, stall = f"drain-{instances}", self.options.stall_seconds
        say(f"run {self.number}: {name}: {count} applications with the notifiers stopped")
        await asyncio.to_thread(self.system.stop_processes, self.system.take_notifiers())
        apps = await self.offer(list(range(start, start + count)), None)
        numbers = [app.number for app in apps if app.number]
        await load.until_completed(self.tracker, numbers, stall)
        figures = phase_figures(name, None, apps, self.tracker.completed)
        waiting = self.sinks.refresh()
        say(f"run {self.number}: {name}: starting {instances} notifier(s) on the backlog")
        spawned = time.perf_counter()
        for instance, process in self.system.start_notifiers(instances):
            self.watch.add(instance, process.pid)
        while self.sinks.refresh() == waiting:
            if time.perf_counter() - spawned > stall:
                raise BenchFailure(f"{name}: no notification within {stall:g} s of the start")
            await asyncio.sleep(0.1)
        first = time.perf_counter()
        before = self.reading()
        settled = await notifications_settled(self.sinks, numbers, first, stall, poll=0.2)
        if settled is None:
            raise BenchFailure(f"{name}: the backlog's notifications stopped arriving")
        figures |= {
            "notifiers": instances,
            "first_notification_after_s": round(first - spawned, 2),
            "backlog_delivered_in_s": settled,
            "backlog_lifecycles_per_s": round(count / settled, 2) if settled else None,
            "backlog_notifications_per_s": (
                round(count * len(LIFECYCLE_STEPS) * len(CHANNELS) / settled, 1)
                if settled
                else None
            ),
        }
        figures |= snapshot.costs(before, self.reading(), count)
        self.result["phases"][name] = figures
        say(
            f"run {self.number}: {name}: {instances} notifier(s) delivered the backlog of "
            f"{count} lifecycles in {settled} s ({figures['backlog_lifecycles_per_s']}/s)"
        )
        return apps

    async def alone(self, rate: float, start: int, count: int) -> list[follow.Application]:
        """Registration with the intake alone on the machine beside the broker and the
        database: the dispatcher, the notifiers and status stopped (their queues keep what
        the intake publishes), ``count`` submissions offered at ``rate``. Then they start
        again and every application runs to ``completed`` with all its notifications, each
        checked like every other. What is measured is the registration's reply and the
        cores each process kept busy while the load was offered."""
        name, stall = f"alone-{rate:g}", self.options.stall_seconds
        say(f"run {self.number}: {name}: {count} applications, {rate:g}/s offered, intake alone")
        taken = self.system.take(PIPELINE)
        await asyncio.to_thread(self.system.stop_processes, [process for _, process in taken])
        before = self.reading()
        offered_from = time.monotonic()
        apps = await self.offer(list(range(start, start + count)), rate)
        busy = snapshot.cores_busy(before.cpu, self.watch.cpu(), time.monotonic() - offered_from)
        costs = snapshot.costs(before, self.reading(), count)
        figures = phase_figures(name, rate, apps, {})
        for key in ("lifecycles_per_s", "lifecycles_per_s_by_fifth", "submit_to_completed_ms"):
            figures.pop(key)
        figures["cores_busy_while_offered"] = busy
        figures["cpu_ms_per_registration"] = costs["cpu_ms_per_lifecycle"]
        figures["db_round_trips_per_registration"] = costs["db_round_trips_per_lifecycle"]
        figures["db_answer_ms_mean"] = costs["db_answer_ms_mean"]
        self.result["phases"][name] = figures
        reg = figures["registration_ms"]
        say(
            f"run {self.number}: {name}: registered {figures['registered_per_s']}/s; "
            f"registration p50/p99 {reg['p50']}/{reg['p99']} ms; the others start again"
        )
        for instance, process in self.system.restart([instance for instance, _ in taken]):
            self.watch.add(instance, process.pid)
        numbers = [app.number for app in apps if app.number]
        await load.until_completed(self.tracker, numbers, stall)
        last = max(self.tracker.completed[number] for number in numbers)
        if await notifications_settled(self.sinks, numbers, last, stall) is None:
            raise BenchFailure(f"{name}: the notifications stopped arriving")
        return apps

    async def offer(self, indices: list[int], rate: float | None) -> list[follow.Application]:
        options = self.options
        if rate is None:
            return await load.closed_loop(
                self.pool, self.tracker, indices, options.concurrency, options.stall_seconds
            )
        return await load.open_loop(self.pool, self.tracker, indices, rate, options.stall_seconds)

    async def deliveries(self) -> dict[str, int]:
        return await asyncio.to_thread(
            self.system.management.settled_deliveries, self.system.vhost, QUEUE_OWNER
        )

    async def final_tally(self, numbers: list[str]) -> dict[str, Any]:
        """Once nothing more arrives for a few seconds (a late duplicate counts too)."""
        last = -1
        while (count := self.sinks.refresh()) != last:
            last = count
            await asyncio.sleep(3)
        result = tally(self.sinks.counts, expected_keys(numbers))
        figures = result.as_dict()
        say(
            f"run {self.number}: notifications expected {result.expected}, received "
            f"{result.received}, lost {figures['lost']}, duplicated {figures['duplicated']}"
        )
        if not result.ok:
            self.result["notifications"] = figures
            raise BenchFailure(f"notifications wrong: {json.dumps(figures, ensure_ascii=False)}")
        return figures


def brief(figures: dict[str, Any]) -> str:
    reg, life = figures["registration_ms"], figures["submit_to_completed_ms"]
    return (
        f"{figures['lifecycles_per_s']} lifecycles/s; registration p50/p99 "
        f"{reg['p50']}/{reg['p99']} ms; submit→completed p50/p99 {life['p50']}/{life['p99']} ms; "
        f"notifications all in {figures['notifications_settled_after_s']} s after the last "
        "completion"
    )
