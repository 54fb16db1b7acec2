"""What status's use cases need from storage (a port; ``mongo.py`` is the adapter).

The read model keeps one document per application: the facts it received and the view
folded from them (``domain.projection``). ``record`` is its one write: when it changes an
application's view, the same write stores the portal update (``domain.portal_update``)
in the document's outbox, published right after it or by the relay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.status.domain import Fact
from shared.contracts.replies import ApplicationSummary, ApplicationView
from shared.documents import ActCopy


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

    async def own_act(self, applicant_fin: str, number: str) -> ActCopy | None:
        """The copy of the application's act if ``applicant_fin`` owns it and it has one."""
        ...


class StatusStore(StatusReader, Protocol):
    async def ensure_indexes(self) -> None: ...

    async def record(self, number: str, facts: Sequence[Fact]) -> bool:
        """Merge ``facts`` into the application's document; False when nothing was new.

        A store that publishes stores the portal update of a changed view in the same
        write, then publishes it; a rebuild's stores publish nothing.
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
