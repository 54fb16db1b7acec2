"""The notifier's routes and use cases in-process, with the in-memory store and a manual
clock: events go in through the same reading and handler as over the broker, and the
sender's rounds run one after another, the clock moved on to the next due job between
them. No broker and no database (unit layer); delivery itself is proven by broker tests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.notifier.adapters.email import SmtpMailer
from services.notifier.adapters.sms import HttpSmsGateway
from services.notifier.domain.jobs import OPEN_STATES, Job, RetryPolicy
from services.notifier.domain.providers import Mailer, SmsGateway
from services.notifier.handlers import NotifierHandlers
from services.notifier.usecases import Notifier
from shared.contracts.events import event_body
from shared.delivery import Delivery, Outcome
from shared.routes import Routes
from tests.notifier.conftest import SENDER, TOKEN
from tests.notifier.fakes import FakeProvider, ManualClock, MemoryNotifierStore
from tests.notifier.servers import Gateway, SmtpServer

QUEUE = "notifier.application_events"

# As the broker tests' settings: quick retries, four attempts.
POLICY = RetryPolicy(
    base=0.05, cap=0.2, max_attempts=4, lease=60.0, contact_recheck=0.05, order_recheck=0.05
)


def real_providers(smtp: SmtpServer, gateway: Gateway) -> tuple[SmtpMailer, HttpSmsGateway]:
    """The real SMTP and HTTP adapters, pointed at the test's own servers."""
    mailer = SmtpMailer(host="127.0.0.1", port=smtp.port, sender=SENDER, timeout=5.0)
    sms = HttpSmsGateway(url=f"http://127.0.0.1:{gateway.port}/messages", token=TOKEN, timeout=5.0)
    return mailer, sms


@dataclass
class LocalNotifier:
    mailer: Mailer = field(default_factory=FakeProvider)
    sms: SmsGateway = field(default_factory=FakeProvider)
    policy: RetryPolicy = POLICY
    store: MemoryNotifierStore = field(default_factory=MemoryNotifierStore)
    clock: ManualClock = field(default_factory=ManualClock)
    woken: int = 0

    def __post_init__(self) -> None:
        self.notifier = Notifier(self.store, self.mailer, self.sms, self.policy, self.clock)
        self.routes = Routes()
        NotifierHandlers(self.notifier, self._wake).serve(self.routes)

    def _wake(self) -> None:
        self.woken += 1

    async def publish(
        self, key: str, body: dict[str, Any], *, correlation_id: str | None = None
    ) -> Outcome:
        """Deliver one event to the notifier's queue as the broker would."""
        delivery = Delivery(
            routing_key=key, message_id=str(uuid.uuid4()), correlation_id=correlation_id
        )
        return await self.routes.deliver(QUEUE, json.dumps(body).encode(), delivery)

    async def deliver_due(self) -> int:
        """One round of the sender: claim what is due, then attempt each claimed job one
        after another; how many were attempted."""
        batch = await self.notifier.claim_due(1000)
        came_to: dict[str, bool] = {}
        for claimed in batch.claimed:  # an earlier step comes before the one claimed after it
            if claimed.after is None:
                came_to[claimed.job.id] = await self.notifier.attempt(claimed)
            else:
                earlier = asyncio.get_running_loop().create_future()
                earlier.set_result(came_to[claimed.after])
                came_to[claimed.job.id] = await self.notifier.attempt_after(earlier, claimed)
        return len(batch.claimed)

    async def run(self, until: Callable[[], bool] | None = None, rounds: int = 500) -> None:
        """Sender rounds until ``until()`` holds (or, without it, until no job is open)."""
        for _ in range(rounds):
            await self.deliver_due()
            if until is not None and until():
                return
            waiting = [job.next_attempt_at for job in self.open_jobs() if job.next_attempt_at]
            if not waiting:
                assert until is None, "no job is open, and the condition never held"
                return
            self.clock.move_to(min(waiting))
        raise AssertionError(f"still open after {rounds} rounds: {self.open_jobs()}")

    async def wait_for(self, routing_key: str, count: int = 1) -> list[dict[str, Any]]:
        """Run the sender until ``count`` outcome events of ``routing_key`` are out."""
        await self.run(until=lambda: len(self.bodies(routing_key)) >= count)
        return self.bodies(routing_key)

    def open_jobs(self) -> list[Job]:
        return [job for job in self.store.jobs_by_id.values() if job.state in OPEN_STATES]

    def jobs_of(self, number: str) -> list[Job]:
        return self.store.of(number)

    def bodies(self, routing_key: str) -> list[dict[str, Any]]:
        """The bodies of the outcome events published, as they went on the wire."""
        return [
            event_body(event)
            for event, _ in self.store.published
            if event.routing_key == routing_key
        ]
