"""What intake's use cases need from storage (a port; ``mongo.py`` is the adapter).

``save`` stores a new application together with its ``application.registered`` event in
one write and returns the step that publishes the event (or leaves it to the outbox
relay): the use case hands it on in its ``Outcome``, so the portal's reply goes out before
the broker has confirmed the event, and the submission is acknowledged after it has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from services.intake.domain import Account, Application
from shared.contracts.events import ApplicationRegistered
from shared.contracts.replies import Registered

# Publishes what ``save`` stored (never raises: what it cannot publish, the relay will).
Publish = Callable[[], Awaitable[None]]


class DuplicateSubmission(Exception):
    """The submission id is already registered."""


class OpenApplicationExists(Exception):
    """Another open application holds the same subscriber code and reason."""


class IntakeStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def registration_for(self, submission_id: str) -> Registered | None:
        """The reply a submission with this id got when it was registered."""
        ...

    async def account(self, subscriber_code: str) -> Account | None: ...
    async def accounts_of(self, applicant_fin: str) -> list[Account]: ...

    async def open_numbers(self, subscriber_codes: Iterable[str]) -> dict[str, list[str]]:
        """Each code's open application numbers, newest first."""
        ...

    async def open_application(self, key: str) -> str | None:
        """The open application holding ``domain.open_key``, if any."""
        ...

    async def next_number(self, year: int) -> int:
        """The next sequence number of ``year`` (atomic; gaps possible: a well-formed
        submission takes one before its account's rules are checked)."""
        ...

    async def numbers_taken(self, year: int) -> int:
        """How many sequence numbers of ``year`` were taken (the last one; 0 for none)."""
        ...

    async def save(
        self,
        application: Application,
        event: ApplicationRegistered,
        correlation_id: str | None,
    ) -> Publish:
        """Store the application and its event in one write; the call returned publishes
        the event.

        ``DuplicateSubmission`` or ``OpenApplicationExists`` when a unique rule stops it.
        """
        ...

    async def close_application(self, number: str, status: str, at: str) -> bool:
        """Mark it closed (completed or rejected); False when it was closed already."""
        ...

    async def upsert_subscribers(self, accounts: list[Account]) -> int: ...
