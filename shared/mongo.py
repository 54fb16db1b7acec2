"""MongoDB client factory (PyMongo's async API); inserts and lookups of several callers
sent as one command."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from shared.batching import Coalescing

DUPLICATE_KEY = 11000


class CommandCounter(monitoring.CommandListener):
    """Calls ``count(name)`` once per command sent: one database round trip each, named by
    ``command_name``: the command and the collection it works on ("update work_orders",
    "find jobs", "hello" for a command on no collection); and ``answered(seconds)`` once per
    answer (or failure), with the time the driver waited for it."""

    def __init__(
        self, count: Callable[[str], None], answered: Callable[[float], None] | None = None
    ) -> None:
        self.count = count
        self.answered = answered

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count(command_name(event.command_name, event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if self.answered is not None:
            self.answered(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        if self.answered is not None:
            self.answered(event.duration_micros / 1e6)


def command_name(name: str, command: Mapping[str, Any]) -> str:
    """ "update work_orders": the command and, where its first field names one, the collection
    (``getMore`` names its collection in ``collection``)."""
    target = command.get("collection") if name == "getMore" else command.get(name)
    return f"{name} {target}" if isinstance(target, str) else name


def make_client(
    url: str,
    app_name: str,
    *,
    on_command: Callable[[str], None] | None = None,
    on_answer: Callable[[float], None] | None = None,
) -> AsyncMongoClient[dict[str, Any]]:
    """A client that hands back timezone-aware UTC datetimes and fails fast when down;
    ``on_command`` is called with the name of every command it sends (``command_name``,
    ``meter_db_commands_total``) and
    ``on_answer`` with the seconds each took to answer (``meter_db_command_seconds``)."""
    listeners = [CommandCounter(on_command, on_answer)] if on_command is not None else []
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


class Lookup:
    """``await lookup(value)``: the document whose ``field`` is ``value``, or None.

    Lookups made while one is under way go out together as one ``find`` with ``$in``
    (``shared.batching``); alone, a lookup is one ``find_one``. ``field`` should be unique.
    """

    def __init__(
        self, collection: Any, field: str = "_id", projection: dict[str, Any] | None = None
    ) -> None:
        self.collection = collection
        self.field = field
        # The field is read back too: it tells which lookup a document answers.
        self.projection = None if projection is None else {**projection, field: 1}
        self._coalescing: Coalescing[Any, dict[str, Any] | None] = Coalescing(self._find)

    async def __call__(self, value: Any) -> dict[str, Any] | None:
        return await self._coalescing(value)

    async def _find(self, values: list[Any]) -> list[dict[str, Any] | None]:
        if len(values) == 1:
            return [await self.collection.find_one({self.field: values[0]}, self.projection)]
        wanted = list(dict.fromkeys(values))
        cursor = self.collection.find({self.field: {"$in": wanted}}, self.projection)
        found = {document[self.field]: document for document in await cursor.to_list()}
        answers: list[dict[str, Any] | None] = []
        given: set[Any] = set()
        for value in values:
            document = found.get(value)
            if document is not None and value in given:  # each caller its own copy
                document = copy.deepcopy(document)
            given.add(value)
            answers.append(document)
        return answers


class Inserts:
    """``await inserts(document)``: the document inserted, or the error ``insert_one`` would
    raise for it (``DuplicateKeyError`` when a unique index refuses it, even for a document
    of the same batch).

    Documents inserted while an insert is under way go out together as one unordered
    ``insert_many`` (``shared.batching``); alone, a document is one ``insert_one``.
    """

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self._coalescing: Coalescing[dict[str, Any], None] = Coalescing(self._insert_all)

    async def __call__(self, document: dict[str, Any]) -> None:
        await self._coalescing(document)

    async def _insert_all(self, documents: list[dict[str, Any]]) -> list[Exception | None]:
        if len(documents) == 1:
            try:
                await self.collection.insert_one(documents[0])
            except DuplicateKeyError as exc:
                return [exc]
            return [None]
        try:
            await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            if exc.details.get("writeConcernErrors"):
                raise  # every caller fails and retries: its insert is then a duplicate
            refused = {int(error["index"]): error for error in exc.details.get("writeErrors", [])}
            return [_refusal(refused[i]) if i in refused else None for i in range(len(documents))]
        return [None] * len(documents)


def _refusal(error: dict[str, Any]) -> Exception:
    """A bulk insert's error for one document, as ``insert_one`` would have raised it."""
    message = str(error.get("errmsg", "refused"))
    if error.get("code") == DUPLICATE_KEY:
        return DuplicateKeyError(message, DUPLICATE_KEY, error)
    return WriteError(message, error.get("code"), error)
