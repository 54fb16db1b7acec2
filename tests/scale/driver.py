"""The load of the scale tests: portals submitting applications and a field team reporting
each assignment, speaking only AMQP, as the outside world does.

A request that gets no answer in time is sent again as a real client would: a submission
under the same ``submission_id``, a report with the same ``message_id``; the contract
makes both idempotent. Work orders are read from ``meter.field`` (and, for a dispatcher
that does not publish there, ``application.assigned`` on ``meter.events``), one report per
application whichever arrives first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from tests.scale.system import subscriber_code
from tests.support.amqp import Portal


def submission(index: int) -> dict[str, Any]:
    return {
        "submission_id": str(uuid.uuid4()),
        "applicant_fin": f"{index % 10}SCL{index % 1000:03d}",
        "subscriber_code": subscriber_code(index),
        "reason_code": "new_installation",
        "phone": "050 123 45 67",
        "email": f"citizen{index}@example.az",
        "data_confirmed": True,
    }


def report(order: dict[str, Any]) -> dict[str, Any]:
    number = order["application_number"]
    return {
        "application_number": number,
        "work_order_id": order["work_order_id"],
        "team_id": order["team_id"],
        "outcome": "installed",
        "act": {
            "act_number": f"AKT-{number}",
            "meter_serial": f"WM-{number}",
            "meter_model": "",
            "initial_reading_m3": "0.000",
            "seal_numbers": ["S-1"],
            "installed_at": "2026-11-27T10:00:00+04:00",
            "installer_name": "Əli Məmmədov",
        },
        "comment": "",
    }


@dataclass
class Driver:
    url: str  # the broker address the portals and the field team use
    applications: int
    concurrency: int = 16
    answer_timeout: float = 20.0
    numbers: dict[int, str] = field(default_factory=dict)  # application index -> number
    replies: list[str] = field(default_factory=list)  # every number a registration answered
    reported: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    answered: int = 0  # submissions answered, whatever the answer
    resent: int = 0
    problems: list[str] = field(default_factory=list)  # answers the contract does not allow
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _all_completed: asyncio.Event = field(default_factory=asyncio.Event)
    _registered: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, timeout: float) -> float:
        """Submit every application and report every work order; seconds until all completed."""
        started = time.monotonic()
        async with Portal(self.url) as portal, await aio_pika.connect(self.url) as listener:
            await self._listen(listener, portal)
            gate = asyncio.Semaphore(self.concurrency)
            submitting = (self._submit(portal, gate, i) for i in range(self.applications))
            deadline = started + timeout
            await asyncio.wait_for(asyncio.gather(*submitting), timeout)
            self._check_completed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_completed.wait(), deadline - time.monotonic())
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        return time.monotonic() - started

    async def _request(self, portal: Portal, key: str, body: Any, **kw: Any) -> Any:
        while True:
            try:
                return await portal.request(key, body, timeout=self.answer_timeout, **kw)
            except TimeoutError:
                self.resent += 1  # the same id again: answered once, whatever happened

    async def _submit(self, portal: Portal, gate: asyncio.Semaphore, index: int) -> None:
        async with gate:
            reply = await self._request(portal, "intake.submit_application", submission(index))
        self.answered += 1
        if reply.outcome != "registered":
            self.problems.append(f"submission {index}: {reply.body}")
            return
        self.numbers[index] = reply.body["application_number"]
        self._registered.set()
        self.replies.append(reply.body["application_number"])

    async def _listen(self, connection: Any, portal: Portal) -> None:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        field_exchange = await channel.get_exchange("meter.field")
        await queue.bind(field_exchange, routing_key="team.#")
        events = await channel.get_exchange("meter.events")
        for key in ("application.assigned", "application.completed"):
            await queue.bind(events, routing_key=key)

        async def on_message(message: AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            number = body.get("application_number")
            if message.routing_key == "application.completed":
                self.completed.add(number)
                self._check_completed()
            elif number not in self.reported and "work_order_id" in body:
                self.reported.add(number)
                task = asyncio.create_task(self._report(portal, body))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        await queue.consume(on_message, no_ack=True)

    async def registrations(self, count: int) -> None:
        """Until ``count`` applications are registered."""
        while len(self.numbers) < count:
            self._registered.clear()
            await self._registered.wait()

    def _check_completed(self) -> None:
        if self.answered >= self.applications and set(self.numbers.values()) <= self.completed:
            self._all_completed.set()

    async def _report(self, portal: Portal, order: dict[str, Any]) -> None:
        message_id = str(uuid.uuid4())
        answer = await self._request(
            portal, "dispatcher.report_outcome", report(order), message_id=message_id
        )
        if answer.body != {"outcome": "accepted"}:
            self.problems.append(f"report {order['application_number']}: {answer.body}")
