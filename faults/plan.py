"""The two variants of the suite: ``quick`` for CI, ``full`` with the long outages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    name: str
    apps: int  # applications per scenario
    backlog: int  # applications queued while every service is stopped
    concurrency: int  # portal requests in flight
    kills: int  # SIGKILLs per service-kill scenario
    outage: float  # seconds a broker, sink or other dependency stays down
    slow_window: float  # seconds a sink answers slowly
    slow_answer: float  # how late a slow sink answers (after storing the message)
    mongo_outages: tuple[float, ...]  # seconds MongoDB is killed for, one scenario each
    poison_rounds: int  # times every poison body is sent to every target
    recovery_limit: float  # seconds after the fault before the rest counts as lost (per apps)
    reply_timeout: float = 10.0  # a portal resends after this
    backlog_reply_timeout: float = 600.0  # the backlog's portal waits, it does not pile up
    settle: float = 3.0  # seconds after recovery before counting (late repeats)
    final_settle: float = 10.0  # before the final recount of all scenarios

    def total_applications(self) -> int:
        # Every scenario but the backlog drives ``apps``; a margin of unused subscribers.
        return self.apps * 24 + self.backlog

    def recovery_for(self, count: int) -> float:
        """Seconds a scenario of ``count`` applications gets after its fault: the backlog,
        several times larger, gets proportionally longer to drain."""
        return self.recovery_limit * max(1.0, count / self.apps)

    def settings(self) -> dict[str, Any]:
        return asdict(self)


QUICK = Plan(
    name="quick",
    apps=30,
    backlog=100,
    concurrency=8,
    kills=2,
    outage=10.0,
    slow_window=15.0,
    slow_answer=20.0,
    mongo_outages=(10.0,),
    poison_rounds=1,
    recovery_limit=90.0,
    settle=2.0,
)

FULL = Plan(
    name="full",
    apps=300,
    backlog=1000,
    concurrency=16,
    kills=3,
    outage=30.0,
    slow_window=60.0,
    slow_answer=20.0,
    mongo_outages=(10.0, 300.0),
    poison_rounds=4,
    recovery_limit=300.0,
)

PLANS = {plan.name: plan for plan in (QUICK, FULL)}
