"""What a run sees and does as it follows the system: each registration reply checked, each
assignment reported as installed by the field team, each completion noted once."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import data
from bench.amqp import BenchFailure, Rpc

NUMBER = re.compile(r"^SQ-\d{4}-\d{6}$")


@dataclass
class Application:
    index: int
    submitted: float  # when it was due to be sent (open loop) or sent (closed loop)
    registered: float | None = None
    number: str | None = None


class Tracker:
    """What the run has seen: registrations, completions (first one per application),
    assignments reported, and the first failure, which ends the run."""

    def __init__(self) -> None:
        self.applications: dict[str, Application] = {}
        self.completed: dict[str, float] = {}  # may arrive before the registration reply
        self.reported: set[str] = set()
        self.assignments: Counter[str] = Counter()  # by where they were learnt
        self.failures: list[str] = []
        self.progress = time.perf_counter()
        self.changed = asyncio.Event()

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.changed.set()

    def moved(self) -> None:
        self.progress = time.perf_counter()
        self.changed.set()

    def check(self) -> None:
        if self.failures:
            raise BenchFailure(self.failures[0])

    def register(self, application: Application, reply: Any, received: float) -> None:
        number = reply.get("application_number") if isinstance(reply, dict) else None
        if not isinstance(reply, dict) or reply.get("outcome") != "registered":
            raise BenchFailure(
                f"submission of {data.subscriber_code(application.index)} was answered "
                f"{reply!r} instead of registered"
            )
        if not isinstance(number, str) or not NUMBER.match(number):
            raise BenchFailure(f"a registered reply without a valid application number: {reply}")
        if number in self.applications:
            raise BenchFailure(f"two submissions were given the same number {number}")
        application.registered, application.number = received, number
        self.applications[number] = application
        self.moved()


class FieldTeam:
    """Reports each assignment once, as installed, and checks the reply is ``accepted``."""

    def __init__(self, rpc: Rpc, tracker: Tracker, within: float) -> None:
        self.rpc = rpc
        self.tracker = tracker
        self.within = within
        self.tasks: set[asyncio.Task[None]] = set()

    def assigned(self, body: Any, source: str) -> None:
        try:
            number, order, team = (
                body["application_number"],
                body["work_order_id"],
                body["team_id"],
            )
        except (KeyError, TypeError):
            self.tracker.fail(f"an assignment without number, work order or team: {body}")
            return
        if order in self.tracker.reported:
            return  # learnt from the other source (or delivered twice) already
        self.tracker.reported.add(order)
        self.tracker.assignments[source] += 1
        task = asyncio.create_task(self._report(number, order, team))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _report(self, number: str, order: str, team: str) -> None:
        try:
            reply, _ = await self.rpc.call(
                "dispatcher.report_outcome",
                data.installed_report(number, order, team),
                "ReportOutcome",
                self.within,
            )
        except BenchFailure as exc:
            self.tracker.fail(str(exc))
            return
        if not isinstance(reply, dict) or reply.get("outcome") != "accepted":
            self.tracker.fail(f"the report on {number} ({order}) was answered {reply!r}")
        self.tracker.moved()


def on_message(tracker: Tracker, field: FieldTeam) -> Callable[..., Awaitable[None]]:
    """The follower's handler: completions, rejections and assignments."""

    async def handle(exchange: str, key: str, body: Any, received: float) -> None:
        number = body.get("application_number") if isinstance(body, dict) else None
        if exchange == "meter.field":
            field.assigned(body, "meter.field")
        elif key == "application.assigned":
            field.assigned(body, "meter.events")
        elif key == "application.completed" and isinstance(number, str):
            tracker.completed.setdefault(number, received)
            tracker.moved()
        elif key == "application.rejected":
            tracker.fail(f"{number} was rejected: {body.get('reason_code')} {body.get('comment')}")

    return handle
