"""The portal clients: submissions offered open loop (at a rate, whatever the replies) or
closed loop (a fixed number in flight), every reply checked; then the wait for every
application to complete, and the status service asked about each of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from bench import data
from bench.amqp import BenchFailure, Pool
from bench.follow import Application, Tracker


async def _submit(
    pool: Pool, tracker: Tracker, index: int, due: float, within: float
) -> Application:
    application = Application(index, submitted=due)
    reply, received = await pool.next().call(
        "intake.submit_application", data.submission(index), "SubmitApplication", within
    )
    tracker.register(application, reply, received)
    return application


async def open_loop(
    pool: Pool, tracker: Tracker, indices: list[int], rate: float, within: float
) -> list[Application]:
    """Each submission sent at its due time, ``1/rate`` apart, whether replies came or not;
    latency counts from the due time, so a late sender cannot hide a slow system."""
    start = time.perf_counter() + 0.05
    tasks = []
    with first_failure():
        async with asyncio.TaskGroup() as group:
            for k, index in enumerate(indices):
                due = start + k / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tracker.check()
                tasks.append(group.create_task(_submit(pool, tracker, index, due, within)))
    return [task.result() for task in tasks]


async def closed_loop(
    pool: Pool, tracker: Tracker, indices: list[int], concurrency: int, within: float
) -> list[Application]:
    """``concurrency`` clients, each sending its next submission when its reply arrives."""
    queue = list(reversed(indices))
    done: list[Application] = []

    async def client() -> None:
        while queue:
            tracker.check()
            done.append(await _submit(pool, tracker, queue.pop(), time.perf_counter(), within))

    with first_failure():
        async with asyncio.TaskGroup() as group:
            for _ in range(concurrency):
                group.create_task(client())
    return done


@contextmanager
def first_failure() -> Iterator[None]:
    """A task group's failures as the first ``BenchFailure`` among them."""
    try:
        yield
    except* BenchFailure as group:
        raise group.exceptions[0] from None


async def until_completed(tracker: Tracker, numbers: Iterable[str], stall: float) -> None:
    """Until every application is completed; fails when nothing moves for ``stall`` s."""
    waiting = set(numbers)
    while True:
        tracker.check()
        waiting -= tracker.completed.keys()
        if not waiting:
            return
        if time.perf_counter() - tracker.progress > stall:
            example = ", ".join(sorted(waiting)[:3])
            raise BenchFailure(
                f"{len(waiting)} application(s) not completed, nothing moved for {stall:.0f}s "
                f"(e.g. {example})"
            )
        tracker.changed.clear()
        with suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await tracker.changed.wait()


async def check_status(
    pool: Pool, applications: list[Application], concurrency: int, stall: float
) -> int:
    """Asks the status service for every application; each must be ``completed``. Status
    follows events on its own, so one not completed yet is asked again for a while."""
    pending = {app.number: data.applicant_fin(app.index) for app in applications if app.number}
    deadline = time.perf_counter() + stall
    last: dict[str, Any] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def ask(number: str, fin: str) -> None:
        async with semaphore:
            body = {"applicant_fin": fin, "application_number": number}
            reply, _ = await pool.next().call("status.get_application", body, "GetApplication", 60)
        if isinstance(reply, dict) and reply.get("status") == "completed":
            pending.pop(number, None)
        else:
            last[number] = reply

    while pending:
        await asyncio.gather(*(ask(number, fin) for number, fin in list(pending.items())))
        if pending and time.perf_counter() > deadline:
            number = sorted(pending)[0]
            raise BenchFailure(
                f"{len(pending)} application(s) not completed in status, "
                f"e.g. {number}: {str(last.get(number))[:300]}"
            )
        if pending:
            await asyncio.sleep(2)
    return len(applications)
