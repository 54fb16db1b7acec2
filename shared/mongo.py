"""MongoDB client factory (PyMongo's async API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient, monitoring


class CommandCounter(monitoring.CommandListener):
    """Calls ``count()`` once per command sent: one database round trip each."""

    def __init__(self, count: Callable[[], None]) -> None:
        self.count = count

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def make_client(
    url: str, app_name: str, *, on_command: Callable[[], None] | None = None
) -> AsyncMongoClient[dict[str, Any]]:
    """A client that hands back timezone-aware UTC datetimes and fails fast when down;
    ``on_command`` is called for every command it sends (``meter_db_commands_total``)."""
    listeners = [CommandCounter(on_command)] if on_command is not None else []
    return AsyncMongoClient(
        url,
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=5000,
        uuidRepresentation="standard",
        event_listeners=listeners,
    )
