"""The scenarios of issue 11, item 6: what breaks, when, and for how long.

Each fault waits until a share of its scenario's applications is registered, so it hits
a system at work, marks its beginning and end on the scene, and leaves everything
running again (``Run.between_scenarios`` checks).
"""

from __future__ import annotations

import asyncio
import uuid

from faults import people
from faults.amqp import Link
from faults.plan import Plan
from faults.poison import Poisoner
from faults.suite import Fault, Run, Scenario, Scene
from faults.system import SERVICES

SLOW_MONGO = 0.3  # seconds added to every MongoDB answer: handlers take seconds
RECEIPTS = 5  # stock receipts of the duplication scenario


async def no_fault(run: Run, scene: Scene) -> None:
    await scene.share_registered(1.0)
    scene.begin()
    scene.end()


def kill(service: str) -> Fault:
    async def fault(run: Run, scene: Scene) -> None:
        kills = run.plan.kills
        for time in range(kills):
            await scene.share_registered((time + 1) / (kills + 1))
            scene.begin()
            await run.system.children.kill(service)
            await asyncio.sleep(2.0)
            await run.system.start_service(service)
            scene.end()

    return fault


async def sigterm_while_slow(run: Run, scene: Scene) -> None:
    await scene.share_registered(1 / 3)
    run.system.set_delay("mongo", SLOW_MONGO)
    await asyncio.sleep(3.0)  # handlers under way, each waiting on the database
    scene.begin()
    took = await asyncio.gather(*(run.system.children.stop(name) for name in SERVICES))
    scene.row.details["stopped_in_seconds"] = {
        name: None if seconds is None else round(seconds, 1)
        for name, seconds in zip(SERVICES, took, strict=True)
    }
    killed = [name for name, seconds in zip(SERVICES, took, strict=True) if seconds is None]
    if killed:
        scene.row.notes.append(f"did not stop on SIGTERM within 40 s (killed): {killed}")
    run.system.set_delay("mongo", 0)
    for name in SERVICES:
        await run.system.start_service(name)
    scene.end()


async def broker_stopped(run: Run, scene: Scene) -> None:
    await scene.share_registered(1 / 3)
    scene.begin()
    await run.system.node.stop_app()
    await asyncio.sleep(run.plan.outage)
    await run.system.node.start_app()
    scene.end()


async def broker_killed(run: Run, scene: Scene) -> None:
    await scene.share_registered(1 / 3)
    scene.begin()
    await run.system.node.kill()
    await asyncio.sleep(5.0)
    await run.system.node.start()
    scene.end()


def mongo_killed(seconds: float) -> Fault:
    async def fault(run: Run, scene: Scene) -> None:
        await scene.share_registered(1 / 3)
        scene.begin()
        await run.system.children.kill("mongo")
        await asyncio.sleep(seconds)
        await run.system.start_mongo()
        scene.end()

    return fault


def sink_down(kind: str) -> Fault:
    async def fault(run: Run, scene: Scene) -> None:
        await scene.share_registered(1 / 3)
        scene.begin()
        await run.system.children.stop(f"{kind}-sink")
        await asyncio.sleep(run.plan.outage)
        await run.system.start_sink(kind)
        scene.end()

    return fault


def sink_slow(kind: str) -> Fault:
    async def fault(run: Run, scene: Scene) -> None:
        await scene.share_registered(1 / 3)
        scene.begin()
        run.system.set_delay(kind, run.plan.slow_answer)
        await asyncio.sleep(run.plan.slow_window)
        run.system.set_delay(kind, 0)
        scene.end()

    return fault


async def duplicated(run: Run, scene: Scene) -> None:
    """Copies of every command and event (turned on by the scenario), and stock receipts
    sent as two concurrent copies each: both must be answered alike and counted once."""
    scene.begin()
    link = run.links[0]
    body = f'{{"district_code": "{people.DISTRICT}", "quantity": 1}}'.encode()
    answers: list[str] = []
    for _ in range(RECEIPTS):
        message_id = str(uuid.uuid4())
        copies = [
            link.message(
                body,
                message_type="ReceiveStock",
                message_id=message_id,
                correlation_id=str(uuid.uuid4()),
            )
            for _ in range(2)
        ]
        got = await asyncio.gather(
            *(link.request("dispatcher.receive_stock", copy, 30.0) for copy in copies),
            return_exceptions=True,
        )
        texts = [f"no answer ({a})" if isinstance(a, BaseException) else a.text() for a in got]
        bodies = [a.body for a in got if not isinstance(a, BaseException)]
        if len(bodies) == 2 and bodies[0] != bodies[1]:
            scene.row.notes.append(f"two copies of a stock receipt answered {texts}")
        answers += texts
        run.ledger.stock_received += 1
    scene.row.details["receipt_answers"] = answers
    await scene.share_registered(1.0)
    scene.end()


async def poisoned(run: Run, scene: Scene) -> None:
    poisoner = Poisoner(Link(run.system.node.url))
    scene.begin()
    try:
        rounds = run.plan.poison_rounds
        for time in range(rounds):
            await scene.share_registered(time / rounds)
            await poisoner.round(big=time < 2)
    finally:
        await poisoner.link.close()
    scene.row.details["poison_sent"] = poisoner.sent
    scene.row.details["poison_answers"] = dict(poisoner.answers)
    scene.end()


async def backlog(run: Run, scene: Scene) -> None:
    """Every service stopped; the whole backlog queued; then every service started."""
    scene.begin()
    await asyncio.gather(*(run.system.children.stop(name) for name in SERVICES))
    scene.start_traffic()
    queued = 0
    for _ in range(600):
        queues = {q["name"]: q for q in await run.system.node.queues()}
        queued = int(queues.get("intake.submit_application", {}).get("messages") or 0)
        if queued >= len(scene.submissions):
            break
        await asyncio.sleep(1.0)
    scene.row.details["queued"] = queued
    for name in SERVICES:
        await run.system.start_service(name)
    scene.end()


def scenarios(plan: Plan) -> list[Scenario]:
    found = [Scenario("no fault (baseline)", no_fault)]
    for service in SERVICES:
        found.append(
            Scenario(
                f"{service} SIGKILLed ×{plan.kills}, restarted",
                kill(service),
                crash_window=service == "notifier",
            )
        )
    found += [
        Scenario("SIGTERM to all during slow handlers", sigterm_while_slow),
        Scenario(f"broker stop_app {plan.outage:.0f} s", broker_stopped),
        Scenario("broker killed (kill -9), restarted", broker_killed),
    ]
    for seconds in plan.mongo_outages:
        label = f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
        found.append(Scenario(f"MongoDB killed for {label}", mongo_killed(seconds)))
    slow = f"answers after {plan.slow_answer:.0f} s for {plan.slow_window:.0f} s"
    found += [
        Scenario(f"SMTP down {plan.outage:.0f} s", sink_down("mail")),
        Scenario(f"SMTP {slow}", sink_slow("mail")),
        Scenario(f"SMS gateway down {plan.outage:.0f} s", sink_down("sms")),
        Scenario(f"SMS gateway {slow}", sink_slow("sms")),
        Scenario("every delivery twice, shuffled", duplicated, copies=True),
        Scenario("poison bodies in the stream", poisoned),
        Scenario(f"backlog of {plan.backlog} drained", backlog, traffic_first=False, backlog=True),
    ]
    return found
