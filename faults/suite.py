"""One run of the suite: the system started once, the scenarios one after another.

For each scenario a fresh set of applicants submits through the portal clients while the
scenario's fault happens (``Scene.begin`` / ``Scene.end`` mark it); the field team and
the event log run all along. After the fault, the run waits until every application of
the scenario is completed and fully notified, or the deadline passes: the time from the
fault's end to that moment is "seconds to recover". Then the end state is counted
(``faults.counting``); at the very end the sinks are counted once more for every
scenario, so a repeat sent after its scenario ended is still seen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from faults import checks, counting, people
from faults.amqp import Link
from faults.field import FieldTeam
from faults.ledger import Effects, MailIndex, SmsIndex, missing, tally
from faults.observer import EventLog
from faults.plan import Plan
from faults.portal import Portal, Submission
from faults.procs import until
from faults.report import Row
from faults.system import SERVICES, System
from faults.watch import LogWatch

Fault = Callable[["Run", "Scene"], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Fault
    crash_window: bool = False  # effects twice expected and reported (issue 11, item 3)
    copies: bool = False  # every command and event delivered twice, out of order
    traffic_first: bool = True  # False: the fault starts the traffic itself
    backlog: bool = False  # drives the plan's backlog instead of its apps


@dataclass
class Scene:
    """One scenario under way: its submissions, portal, and when its fault began and ended."""

    row: Row
    submissions: list[Submission]
    portal: Portal
    concurrency: int
    traffic: asyncio.Task[None] | None = None
    began: float | None = None
    ended: float | None = None

    def begin(self) -> None:
        self.began = self.began or asyncio.get_running_loop().time()

    def end(self) -> None:
        self.ended = asyncio.get_running_loop().time()

    def start_traffic(self) -> None:
        if self.traffic is None:
            self.traffic = asyncio.create_task(self.portal.run(self.submissions, self.concurrency))

    async def share_registered(self, share: float, within: float = 300.0) -> None:
        """Until that share of the applications is registered (at most ``within`` seconds)."""
        wanted = int(len(self.submissions) * share)
        if not await until(lambda: self.portal.registered >= wanted, within=within, every=0.1):
            self.row.notes.append(f"fault began with fewer than {wanted} registered (stalled)")


@dataclass
class Run:
    plan: Plan
    workdir: Path
    rows: list[Row] = field(default_factory=list)
    next_index: int = 0
    ledger: counting.RunLedger = field(init=False)

    def __post_init__(self) -> None:
        self.system = System(self.workdir, self.plan.total_applications() + 100)
        self.ledger = counting.RunLedger(stock_received=self.system.initial_stock)
        self.mail = MailIndex(self.system.mail_dir)
        self.sms = SmsIndex(self.system.sms_dir / "sms.jsonl")
        self.logs = LogWatch(self.system.children.logs, SERVICES)
        self.links: list[Link] = []
        self.background: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.system.start(people.applicants(0, self.plan.total_applications()))
        url = self.system.node.url
        self.links = [Link(url) for _ in range(4)]
        self.field = FieldTeam(Link(url), url, reply_timeout=self.plan.reply_timeout)
        self.events = EventLog(url, Link(url))
        self.links += [self.field.link, self.events.link]
        self.background = [
            asyncio.create_task(self.field.run()),
            asyncio.create_task(self.events.run()),
        ]

    async def close(self) -> None:
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for link in self.links:
            await link.close()
        await self.system.close()

    def allocate(self, count: int) -> list[Submission]:
        chosen = people.applicants(self.next_index, count)
        self.next_index += count
        return [Submission(applicant) for applicant in chosen]

    async def scenario(self, spec: Scenario) -> Row:
        loop = asyncio.get_running_loop()
        count = self.plan.backlog if spec.backlog else self.plan.apps
        row = Row(spec.name, count, crash_window=spec.crash_window)
        await self.between_scenarios(row)
        parked_before = await self.system.parked()
        self.logs.mark()
        timeout = self.plan.backlog_reply_timeout if spec.backlog else self.plan.reply_timeout
        portal = Portal(self.links[:4], reply_timeout=timeout, copies=spec.copies)
        concurrency = count if spec.backlog else self.plan.concurrency
        scene = Scene(row, self.allocate(count), portal, concurrency)
        self.field.copies = self.events.duplicate = spec.copies
        started = loop.time()
        if spec.traffic_first:
            scene.start_traffic()
        await spec.fault(self, scene)
        scene.start_traffic()
        fault_end = scene.ended or loop.time()
        portal.give_up_at = fault_end + self.plan.recovery_for(count)
        done_at = await self.wait_done(scene, portal.give_up_at)
        self.field.copies = self.events.duplicate = False
        row.recover_seconds = None if done_at is None else round(done_at - fault_end, 1)
        if scene.traffic is not None:
            scene.traffic.cancel()
        await asyncio.gather(*filter(None, [scene.traffic]), return_exceptions=True)
        await portal.finish_copies()
        await counting.count(self, scene, parked_before)
        row.details["seconds"] = round(loop.time() - started, 1)
        row.details["fault_seconds"] = round(fault_end - (scene.began or fault_end), 1)
        self.rows.append(row)
        return row

    async def between_scenarios(self, row: Row) -> None:
        """Every service and sink running and consuming again before the next scenario."""
        crashed = self.system.children.exited()
        if crashed:
            row.notes.append(f"exited by themselves before the scenario: {crashed}")
        repaired = await self.system.repair()
        if repaired:
            row.details["started_again_before"] = repaired
        await self.system.wait_ready()

    async def wait_done(self, scene: Scene, deadline: float) -> float | None:
        """When every application was completed and fully notified; None past ``deadline``."""
        loop = asyncio.get_running_loop()
        emails = {s.applicant.email for s in scene.submissions}
        phones = {s.applicant.phone for s in scene.submissions}
        while loop.time() < deadline:
            await asyncio.sleep(1.0)
            if any(s.number is None for s in scene.submissions):
                continue
            mail, sms = tally(self.mail.refresh()), tally(self.sms.refresh())
            if any(missing(mail, e) for e in emails) or any(missing(sms, p) for p in phones):
                continue
            try:
                status = await checks.statuses(
                    self.system.http,
                    {s.applicant.fin for s in scene.submissions},
                    {s.applicant.subscriber_code for s in scene.submissions},
                )
            except (httpx.HTTPError, ValueError):
                continue
            if all(status.get(str(s.number)) == "completed" for s in scene.submissions):
                return loop.time()
        return None

    def recount(self) -> None:
        """Count every scenario's e-mails and SMS once more, repeats sent late included."""
        mail, sms = tally(self.mail.refresh()), tally(self.sms.refresh())
        for row in self.rows:
            emails, phones = self.ledger.recipients.get(row.scenario, (set(), set()))
            late_mail = Effects.of(mail, emails).twice - row.twice_email
            late_sms = Effects.of(sms, phones).twice - row.twice_sms
            if late_mail > 0 or late_sms > 0:
                row.twice_email += max(0, late_mail)
                row.twice_sms += max(0, late_sms)
                row.notes.append(
                    f"seen after the scenario ended: {max(0, late_mail)} e-mail(s), "
                    f"{max(0, late_sms)} SMS more than once"
                )
