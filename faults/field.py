"""A field team's app: follows the work orders and reports each one installed.

It follows ``work_order.assigned`` on ``meter.field`` (keys ``team.<id>``) and, where the
dispatcher still announces assignments only there, ``application.assigned`` on
``meter.events``: the first assignment of an application is reported, later ones are
counted. A report is sent until answered, every time with the same ``message_id`` (one
per work order), so the dispatcher can tell a resend from a new report; any answer but
``accepted`` is counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from faults import people
from faults.amqp import Answer, Link, NoAnswer, decode, follow

REPORT = "dispatcher.report_outcome"
QUEUE = "faults.field"
BINDINGS = [("meter.field", "team.#"), ("meter.events", "application.assigned")]
BAKU = timezone(timedelta(hours=4))
_NAMESPACE = uuid.UUID("3b1f3d2e-6a0c-4c8e-9a55-0f5d2f7c9e11")


@dataclass
class FieldTeam:
    link: Link
    url: str
    reply_timeout: float = 10.0
    pause: float = 1.0
    copies: bool = False
    work_orders: dict[str, str] = field(default_factory=dict)  # number -> first work order
    accepted: set[str] = field(default_factory=set)  # numbers whose report was accepted
    answers: Counter[str] = field(default_factory=Counter)  # answers other than accepted
    anomalies: Counter[str] = field(default_factory=Counter)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _first: dict[str, Answer] = field(default_factory=dict)
    _reporting: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.link.on_late = self._late

    async def run(self) -> None:
        try:
            await follow(self.url, QUEUE, BINDINGS, self._on_assignment)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _on_assignment(self, message: AbstractIncomingMessage) -> None:
        body = decode(message)
        await message.ack()
        if not isinstance(body, dict):
            self.anomalies["unreadable assignment"] += 1
            return
        number, work_order = body.get("application_number"), body.get("work_order_id")
        team = body.get("team_id")
        if not (isinstance(number, str) and isinstance(work_order, str) and isinstance(team, str)):
            self.anomalies["assignment without number, work order or team"] += 1
            return
        known = self.work_orders.setdefault(number, work_order)
        if known != work_order:
            self.anomalies["second work order for one application"] += 1
            return
        if number in self.accepted or number in self._reporting:
            return  # the same assignment on both exchanges, or delivered again
        task = asyncio.create_task(self.report(number, work_order, team))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def body(self, number: str, work_order: str, team: str) -> bytes:
        installed_at = datetime.now(BAKU).isoformat(timespec="seconds")
        report = {
            "application_number": number,
            "work_order_id": work_order,
            "team_id": team,
            "outcome": "installed",
            "act": people.act(number, team, installed_at),
            "comment": "",
        }
        return json.dumps(report, ensure_ascii=False).encode()

    async def report(self, number: str, work_order: str, team: str) -> None:
        message_id = str(uuid.uuid5(_NAMESPACE, work_order))
        body = self.body(number, work_order, team)
        self._reporting.add(number)
        try:
            while True:
                correlation_id = str(uuid.uuid4())
                if self.copies:
                    self._copy_later(self._message(body, message_id, correlation_id))
                try:
                    message = self._message(body, message_id, correlation_id)
                    answer = await self.link.request(REPORT, message, self.reply_timeout)
                except NoAnswer:
                    await asyncio.sleep(self.pause)
                    continue
                self._first[correlation_id] = answer
                if answer.outcome == "accepted":
                    self.accepted.add(number)
                else:
                    self.answers[answer.summary()] += 1
                return
        finally:
            self._reporting.discard(number)

    def _message(self, body: bytes, message_id: str, correlation_id: str) -> aio_pika.Message:
        return self.link.message(
            body, message_type="ReportOutcome", message_id=message_id, correlation_id=correlation_id
        )

    def _late(self, answer: Answer) -> None:
        first = self._first.get(answer.correlation_id or "")
        if first is not None and first.body != answer.body:
            self.anomalies[f"a copy answered {answer.text()} after {first.text()}"] += 1

    def _copy_later(self, message: aio_pika.Message) -> None:
        async def copy() -> None:
            await asyncio.sleep(random.uniform(0.1, 3.0))  # noqa: S311 - a shuffle, not a secret
            try:
                await self.link.publish("meter.commands", REPORT, message)
            except NoAnswer:
                self.anomalies["copy not published"] += 1

        task = asyncio.create_task(copy())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
