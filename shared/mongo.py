"""MongoDB client factory (PyMongo's async API), and inserts that keep what is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError, WriteError

DUPLICATE_KEY = 11000


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


async def insert_new(
    collection: Any, groups: list[list[dict[str, Any]]]
) -> list[int | BaseException]:
    """Insert each group's documents (one ``insert_many`` for all); per group, how many were
    new. A document whose ``_id`` is stored already is left as it is and not counted; any
    other refusal fails its group only."""
    documents = [document for group in groups for document in group]
    owners = [index for index, group in enumerate(groups) for _ in group]
    results: list[int | BaseException] = [len(group) for group in groups]
    if not documents:
        return results
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        for error in exc.details.get("writeErrors", []):
            owner = owners[int(error["index"])]
            if error.get("code") != DUPLICATE_KEY:
                message = error.get("errmsg", "")
                results[owner] = WriteError(message, error.get("code"), error)
            elif isinstance(counted := results[owner], int):
                results[owner] = counted - 1
    return results
