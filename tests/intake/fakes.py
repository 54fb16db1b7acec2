"""An in-memory ``IntakeStore``, held to the MongoDB store by the contract suite."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.intake.domain import Account, Application
from services.intake.store import DuplicateSubmission, OpenApplicationExists, Publish
from shared.contracts.events import ApplicationRegistered
from shared.contracts.replies import Registered


class MemoryIntakeStore:
    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self.subscribers = {account.subscriber_code: account for account in accounts}
        self.applications: dict[str, Application] = {}
        self.open_keys: dict[str, str] = {}  # open key -> application number
        self.counters: dict[int, int] = {}
        self.published: list[ApplicationRegistered] = []

    async def ensure_indexes(self) -> None:
        return None

    async def registration_for(self, submission_id: str) -> Registered | None:
        for application in self.applications.values():
            if application.submission_id == submission_id:
                return application.reply
        return None

    async def account(self, subscriber_code: str) -> Account | None:
        return self.subscribers.get(subscriber_code)

    async def accounts_of(self, applicant_fin: str) -> list[Account]:
        found = [a for a in self.subscribers.values() if a.applicant_fin == applicant_fin]
        return sorted(found, key=lambda account: account.subscriber_code)

    async def open_numbers(self, subscriber_codes: Iterable[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {code: [] for code in subscriber_codes}
        for number in sorted(self.open_keys.values(), reverse=True):
            code = self.applications[number].subscriber_code
            if code in found:
                found[code].append(number)
        return found

    async def open_application(self, key: str) -> str | None:
        return self.open_keys.get(key)

    async def next_number(self, year: int) -> int:
        self.counters[year] = self.counters.get(year, 0) + 1
        return self.counters[year]

    async def numbers_taken(self, year: int) -> int:
        return self.counters.get(year, 0)

    async def save(
        self, application: Application, event: ApplicationRegistered, correlation_id: str | None
    ) -> Publish:
        if await self.registration_for(application.submission_id) is not None:
            raise DuplicateSubmission(application.submission_id)
        if application.open_key in self.open_keys:
            raise OpenApplicationExists(application.open_key)
        self.applications[application.number] = application
        self.open_keys[application.open_key] = application.number
        return _Publish(self.published, event)

    async def close_application(self, number: str, status: str, at: str) -> bool:
        for key, holder in list(self.open_keys.items()):
            if holder == number:
                del self.open_keys[key]
                return True
        return False

    async def upsert_subscribers(self, accounts: list[Account]) -> int:
        self.subscribers.update({account.subscriber_code: account for account in accounts})
        return len(accounts)


@dataclass
class _Publish:
    """The event is in ``published`` once the step ``save`` returned has run (as with the
    outbox, a use case that never runs it publishes nothing)."""

    published: list[ApplicationRegistered]
    event: ApplicationRegistered

    async def __call__(self) -> None:
        self.published.append(self.event)
