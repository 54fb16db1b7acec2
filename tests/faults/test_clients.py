"""The suite's portal, field team and event log against the real broker, with fake services.

These are the parts whose mistakes would be blamed on the system: a portal that gave up,
or resent under a new submission id, would make a lost or doubled application of its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from faults.amqp import Link
from faults.field import FieldTeam
from faults.observer import EventLog
from faults.people import Applicant
from faults.portal import Portal, Submission
from faults.procs import until
from shared import topology

Answerer = Callable[[int, AbstractIncomingMessage], Awaitable[Any]]


@pytest.fixture
async def channel(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await topology.declare(channel, topology.ALL_QUEUES)
        yield channel


async def serve(
    channel: aio_pika.abc.AbstractChannel, queue: str, answer: Answerer
) -> list[AbstractIncomingMessage]:
    """A fake service on ``queue``: ``answer(n, message)`` gives the n-th reply (None: none)."""
    seen: list[AbstractIncomingMessage] = []

    async def on_message(message: AbstractIncomingMessage) -> None:
        seen.append(message)
        body = await answer(len(seen), message)
        if body is not None and message.reply_to:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    json.dumps(body).encode(),
                    correlation_id=message.correlation_id,
                    type=f"{message.type}Reply",
                ),
                routing_key=message.reply_to,
            )
        await message.ack()

    declared = await channel.get_queue(queue)
    await declared.consume(on_message)
    return seen


async def test_the_portal_resends_under_the_same_submission_id_until_registered(
    rabbitmq_url: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    async def intake(n: int, _: AbstractIncomingMessage) -> Any:
        if n == 1:
            return None  # lost answer: the portal must ask again
        if n == 2:
            return {"outcome": "refused", "errors": [{"field": "x", "code": "internal_error"}]}
        return {"outcome": "registered", "application_number": "SQ-2026-000001"}

    seen = await serve(channel, "intake.submit_application", intake)
    link = Link(rabbitmq_url)
    portal = Portal([link], reply_timeout=1.0, pause=0.1)
    submission = Submission(Applicant(0))
    await asyncio.wait_for(portal.run([submission], 1), 30)
    await link.close()

    assert submission.number == "SQ-2026-000001"
    assert submission.sent == 3
    assert {json.loads(m.body)["submission_id"] for m in seen} == {submission.submission_id}
    assert len({m.message_id for m in seen}) == 3
    assert submission.answers == {"no answer within 1s": 1, "refused:internal_error": 1}


async def test_copies_answered_with_two_numbers_show_as_a_second_registration(
    rabbitmq_url: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    async def intake(n: int, _: AbstractIncomingMessage) -> Any:
        return {"outcome": "registered", "application_number": f"SQ-2026-00000{n}"}

    seen = await serve(channel, "intake.submit_application", intake)
    link = Link(rabbitmq_url)
    portal = Portal([link], copies=True)
    submission = Submission(Applicant(0))
    await asyncio.wait_for(portal.run([submission], 1), 30)
    await asyncio.wait_for(portal.finish_copies(), 10)
    assert await until(lambda: len(submission.numbers) == 2, within=10)
    await link.close()

    assert len(seen) == 2
    assert seen[0].message_id == seen[1].message_id
    [anomaly] = portal.anomalies
    assert "SQ-2026-000001" in anomaly
    assert "SQ-2026-000002" in anomaly


async def test_the_field_team_reports_each_assignment_once_with_one_message_id(
    rabbitmq_url: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    async def dispatcher(n: int, _: AbstractIncomingMessage) -> Any:
        return None if n == 1 else {"outcome": "accepted"}

    seen = await serve(channel, "dispatcher.report_outcome", dispatcher)
    team = FieldTeam(Link(rabbitmq_url), rabbitmq_url, reply_timeout=1.0, pause=0.1)
    following = asyncio.create_task(team.run())
    assignment = {
        "application_number": "SQ-2026-000007",
        "work_order_id": "WO-x1",
        "team_id": "F-01",
    }
    await asyncio.sleep(1.0)  # its queue is declared and bound by now
    for exchange, key in (("meter.field", "team.F-01"), ("meter.events", "application.assigned")):
        target = await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(json.dumps(assignment).encode()), key)
    assert await until(lambda: "SQ-2026-000007" in team.accepted, within=20)
    await asyncio.sleep(1.0)
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await team.link.close()

    assert len(seen) == 2  # one report, sent again once: not one per exchange
    assert seen[0].message_id == seen[1].message_id
    report = json.loads(seen[0].body)
    assert (report["work_order_id"], report["outcome"]) == ("WO-x1", "installed")


async def test_the_event_log_copies_each_event_once_with_the_same_message_id(
    rabbitmq_url: str, channel: aio_pika.abc.AbstractChannel
) -> None:
    watcher = await channel.declare_queue(exclusive=True)
    events = await channel.get_exchange("meter.events")
    await watcher.bind(events, "application.registered")
    log = EventLog(rabbitmq_url, Link(rabbitmq_url), duplicate=True, copy_delay=(0.1, 0.3))
    following = asyncio.create_task(log.run())
    await asyncio.sleep(1.0)
    body = {"application_number": "SQ-2026-000009", "subscriber_code": "F0000009"}
    await events.publish(
        aio_pika.Message(
            json.dumps(body).encode(), message_id="m-1", type="application.registered"
        ),
        "application.registered",
    )
    got: list[AbstractIncomingMessage] = []

    async def keep(message: AbstractIncomingMessage) -> None:
        got.append(message)

    await watcher.consume(keep, no_ack=True)
    assert await until(lambda: len(got) >= 2, within=15)
    await asyncio.sleep(2.0)  # a copy of the copy would arrive by now
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await log.link.close()

    assert [m.message_id for m in got] == ["m-1", "m-1"]
    assert got[0].body == got[1].body
    assert log.registered["SQ-2026-000009"] == {"F0000009"}
