"""In-memory stand-ins for the notifier's ports: the store (checked against MongoDB by the
contract suite), e-mail and SMS providers that do what a test tells them, and a clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.notifier.domain.jobs import OPEN_STATES, Job, NotificationOutcome, State
from services.notifier.domain.providers import DeliveryFailed, Mail, Sms
from services.notifier.domain.steps import Contact


class MemoryNotifierStore:
    """The ``NotifierStore`` port in memory; ``published`` holds each outcome event sent."""

    def __init__(self) -> None:
        self.contacts_by_number: dict[str, Contact] = {}
        self.jobs_by_id: dict[str, Job] = {}
        self.followers: dict[str, set[str]] = {}
        self.published: list[tuple[NotificationOutcome, str | None]] = []
        self.broken = False  # every call raises, as a database outage would
        self.alive_until: str | None = None  # the latest beat
        self.released: list[str] = []  # the times release_dead was asked

    def _check(self) -> None:
        if self.broken:
            raise ConnectionError("database unreachable")

    async def ensure_indexes(self) -> None:
        return None

    async def contacts(self, numbers: Collection[str]) -> dict[str, Contact]:
        self._check()
        known = self.contacts_by_number
        return {number: known[number] for number in numbers if number in known}

    async def record(self, jobs: Sequence[Job], contact: Contact | None = None) -> int:
        self._check()
        new = [job for job in jobs if job.id not in self.jobs_by_id]
        self.jobs_by_id.update({job.id: job for job in new})
        if contact is not None and new:  # kept with the registration's jobs: the first's
            self.contacts_by_number.setdefault(new[0].application_number, contact)
        return len(new)

    async def make_due(self, ids: Collection[str], state: State, at: str) -> None:
        self._check()
        for job_id in ids:
            job = self.jobs_by_id.get(job_id)
            if job is not None and job.state == state:
                self.jobs_by_id[job_id] = dataclasses.replace(
                    job, next_attempt_at=at, updated_at=at, version=job.version + 1
                )

    async def count_due(self, at: str) -> int:
        return len(await self.due(at, len(self.jobs_by_id), ()))

    async def due(self, at: str, limit: int, busy: Collection[str]) -> list[Job]:
        self._check()
        due = [
            job
            for job in self.jobs_by_id.values()
            if job.state in OPEN_STATES
            and job.next_attempt_at is not None
            and job.next_attempt_at <= at
            and job.id not in busy
        ]
        return sorted(due, key=lambda job: str(job.next_attempt_at))[:limit]

    async def jobs(self, ids: Collection[str]) -> list[Job]:
        self._check()
        return [self.jobs_by_id[job_id] for job_id in ids if job_id in self.jobs_by_id]

    async def jobs_and_contacts(
        self, ids: Collection[str], numbers: Collection[str]
    ) -> tuple[list[Job], dict[str, Contact]]:
        return (await self.jobs(ids) if ids else []), (
            await self.contacts(numbers) if numbers else {}
        )

    async def claim(self, claims: Sequence[tuple[Job, Job]]) -> list[Job]:
        self._check()
        return [new for current, new in claims if self._write(current, new)]

    async def beat(self, until: str) -> None:
        self._check()
        self.alive_until = until

    async def release_dead(self, at: str) -> int:
        self._check()
        self.released.append(at)
        return 0  # one sender in memory: there is nobody else to have died

    async def release_own(self, at: str, busy: Collection[str], *, started: bool = False) -> int:
        self._check()
        own = [
            job for job in self.jobs_by_id.values() if job.state == "sending" and job.id not in busy
        ]
        for job in own:  # one sender in memory: every claimed job is its own
            self.jobs_by_id[job.id] = dataclasses.replace(
                job,
                next_attempt_at=at,
                updated_at=at,
                version=job.version + 1,
                attempts=job.attempts if started else job.attempts - 1,
            )
        return len(own)

    async def follow(self, earlier: Job, follower_id: str) -> bool:
        self._check()
        stored = self.jobs_by_id.get(earlier.id)
        if stored is None or stored.final:
            return False
        self.followers.setdefault(earlier.id, set()).add(follower_id)
        return True

    async def replace(self, current: Job, new: Job) -> bool:
        self._check()
        return self._write(current, new)

    def _write(self, current: Job, new: Job) -> bool:
        stored = self.jobs_by_id.get(current.id)
        if stored is None or stored.version != current.version:
            return False
        self.jobs_by_id[current.id] = new
        return True

    async def save_and_publish(
        self, current: Job, final: Job, event: NotificationOutcome
    ) -> tuple[str, ...] | None:
        if not await self.replace(current, final):
            return None
        self.published.append((event, final.correlation_id))
        return tuple(sorted(self.followers.pop(current.id, set())))

    async def job(self, job_id: str) -> Job | None:
        self._check()
        return self.jobs_by_id.get(job_id)

    def of(self, number: str) -> list[Job]:
        """The application's jobs in id order (as the broker tests read the collection)."""
        return sorted(
            (job for job in self.jobs_by_id.values() if job.application_number == number),
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

    def mails(self) -> list[Mail]:
        """The e-mails taken (a mailer takes nothing else)."""
        return [message for message in self.taken if isinstance(message, Mail)]


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
