"""What status's use cases need from storage (a port; ``mongo.py`` is the adapter).

The read model keeps one document per application: the facts it received and the view
folded from them (``domain.projection``). Status publishes no events, so its store has
no outbox: ``record`` is its one write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.status.domain import Fact
from shared.contracts.replies import ApplicationSummary, ApplicationView


class ConcurrentWrites(RuntimeError):
    """The document kept changing under us; the message is retried later."""


class StatusReader(Protocol):
    """The citizen's reads: only their own applications, and only once registered."""

    async def own_application(self, applicant_fin: str, number: str) -> ApplicationView | None:
        """The application's view if ``applicant_fin`` owns it; None otherwise."""
        ...

    async def own_applications(self, applicant_fin: str) -> list[ApplicationSummary]:
        """The citizen's applications, newest first (by submission, then number)."""
        ...


class StatusStore(StatusReader, Protocol):
    async def ensure_indexes(self) -> None: ...

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        """Merge ``facts`` into the application's document; False when nothing was new.

        ``ConcurrentWrites`` when other writers keep winning.
        """
        ...


class RebuildTarget(Protocol):
    """A read model rebuilt beside the live one, then swapped in (``meterctl status rebuild``)."""

    @property
    def live(self) -> StatusStore: ...

    @property
    def fresh(self) -> StatusStore: ...

    async def begin(self) -> None:
        """An empty fresh store; indexes on both."""
        ...

    async def swap(self) -> tuple[int, int]:
        """Make the live store hold exactly the fresh one's documents; (written, removed)."""
        ...

    async def end(self) -> None:
        """Forget the fresh store."""
        ...
