"""In-memory stand-ins for the notifier's ports: the store (checked against MongoDB by the
contract suite), e-mail and SMS providers that do what a test tells them, and a clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.notifier.domain.jobs import OPEN_STATES, Job, NotificationOutcome
from services.notifier.domain.providers import DeliveryFailed, Mail, Sms
from services.notifier.domain.steps import Contact


class MemoryNotifierStore:
    """The ``NotifierStore`` port in memory; ``published`` holds each outcome event sent."""

    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.jobs: dict[str, Job] = {}
        self.published: list[tuple[NotificationOutcome, str | None]] = []
        self.broken = False  # every call raises, as a database outage would

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("database unreachable")

    async def ensure_indexes(self) -> None:
        return None

    async def remember_contact(self, number: str, contact: Contact, at: str) -> None:
        self._check()
        self.contacts.setdefault(number, contact)

    async def contact(self, number: str) -> Contact | None:
        self._check()
        return self.contacts.get(number)

    async def record(self, jobs: Sequence[Job]) -> int:
        self._check()
        new = [job for job in jobs if job.id not in self.jobs]
        self.jobs.update({job.id: job for job in new})
        return len(new)

    async def wake_waiting(self, number: str, at: str) -> None:
        self._check()
        for job in list(self.jobs.values()):
            if job.application_number == number and job.state == "waiting":
                self.jobs[job.id] = dataclasses.replace(
                    job, next_attempt_at=at, version=job.version + 1
                )

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        self._check()
        due = [
            job
            for job in self.jobs.values()
            if job.state in OPEN_STATES
            and job.next_attempt_at is not None
            and job.next_attempt_at <= at
            and job.id not in busy
        ]
        return sorted(due, key=lambda job: str(job.next_attempt_at))[:limit]

    async def earlier_open(self, job: Job) -> Job | None:
        self._check()
        earlier = [
            other
            for other in self.jobs.values()
            if other.application_number == job.application_number
            and other.channel == job.channel
            and other.state in OPEN_STATES
            and other.sequence < job.sequence
        ]
        return min(earlier, key=lambda other: other.sequence, default=None)

    async def replace(self, current: Job, new: Job) -> bool:
        self._check()
        stored = self.jobs.get(current.id)
        if stored is None or stored.version != current.version:
            return False
        self.jobs[current.id] = new
        return True

    async def save_and_publish(self, current: Job, final: Job, event: NotificationOutcome) -> bool:
        if not await self.replace(current, final):
            return False
        self.published.append((event, final.correlation_id))
        return True

    async def job(self, job_id: str) -> Job | None:
        self._check()
        return self.jobs.get(job_id)

    def of(self, number: str) -> list[Job]:
        """The application's jobs in id order (as the broker tests read the collection)."""
        return sorted(
            (job for job in self.jobs.values() if job.application_number == number),
            key=lambda job: job.id,
        )


@dataclass
class FakeProvider:
    """Takes every message, or fails as told: ``failures`` are raised first, one per call."""

    taken: list[Mail | Sms] = field(default_factory=list)
    tried: list[Mail | Sms] = field(default_factory=list)
    failures: list[BaseException] = field(default_factory=list)
    always: BaseException | None = None  # raised on every call while set

    async def send(self, message: Mail | Sms) -> str | None:
        self.tried.append(message)
        if self.always is not None:
            raise self.always
        if self.failures:
            raise self.failures.pop(0)
        self.taken.append(message)
        return f"receipt-{len(self.taken)}"

    def texts(self) -> list[str]:
        return [message.text for message in self.taken]


def transient(reason: str = "gateway answered 503") -> DeliveryFailed:
    return DeliveryFailed(reason, permanent=False)


def permanent(reason: str = "gateway answered 400") -> DeliveryFailed:
    return DeliveryFailed(reason, permanent=True)


@dataclass
class ManualClock:
    """Time that moves only when the test moves it."""

    now: datetime = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def move_to(self, stamp_text: str) -> None:
        """On to a stored time (``shared.clock.stamp`` text), never back."""
        moment = datetime.fromisoformat(stamp_text.replace("Z", "+00:00"))
        self.now = max(self.now, moment)
