"""Dispatcher's MongoDB adapter: teams, stock, daily capacity, work orders, refused reports.

Every state document is written whole (insert or replace) and guarded by its ``version``:
a write that lost a race is retried against the fresh document. The embedded server used
where no real MongoDB exists keeps types only that way (docs/reliability.md; there an
update's ``$set`` of a datetime stores it as text).

The stock document is the exception: every dispatch of a district reserves from it, so
whole writes would mostly lose and retry. Reserving, consuming and releasing are one
conditional update each, with operators that keep types on the embedded server too
(``$inc`` of an integer stays an integer, ``$push`` and ``$pull`` of a string). Reserving
matches only while ``available`` is above 0 and the number is not held (``$nin``: the
embedded server's ``$ne`` compares a whole array, so it matched a number held already, and
it has no ``$not``); consuming and releasing only while it is held. Each one increments
``version``, so ``receive`` (a whole write through the pure function, deduplicating
receipts) loses to them and retries: received = reserved + consumed + available holds
whichever wins. A document written before it kept ``available`` is changed whole, which
adds it (a consume leaves it without: its counts stay right).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.dispatcher.domain import stock as meters
from services.dispatcher.domain import teams as capacity
from services.dispatcher.domain import workorders
from services.dispatcher.domain.changes import Change, Document
from services.dispatcher.domain.teams import Team
from services.dispatcher.domain.workorders import Message, WorkOrder
from shared.batching import AllOrEach, Coalescing, Deferred
from shared.clock import stamp, utc_now
from shared.contracts.field import WorkOrderAssigned
from shared.contracts.registry import FIELD_EXCHANGE
from shared.contracts.replies import Refused
from shared.mongo import Inserts, Lookup
from shared.outbox import (
    BatchedOutboxDocuments,
    MongoOutboxDocuments,
    Outbox,
    event_entry,
    message_entry,
    with_outbox,
    without_entries,
)

# How long the teams read stay in use: a team import reaches every dispatcher within it.
TEAMS_FRESH = 5.0


class MongoDispatcherStore:
    def __init__(
        self,
        db: Any,
        outbox: Outbox | None = None,
        *,
        clear_wait: float = 0.0,
        closed_clear_wait: float | None = None,
        settle_wait: float | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """``clear_wait`` > 0: published entries leave the outboxes in batches, those of a
        closed work order (which nobody rewrites) after ``closed_clear_wait`` (default
        ``clear_wait``); ``settle_wait`` (default ``clear_wait``) > 0: the marks of settled
        stock leave in batches too."""
        self.teams_collection = db["teams"]
        self.stock = db["stock"]
        self.team_days = db["team_days"]
        self.work_orders_collection = db["work_orders"]
        self.replies = db["replies"]
        self._teams: tuple[float, list[Team]] | None = None  # (read at, teams)
        self.clock = clock  # when a work order came back (``mark_unrouted``)
        self.outbox = outbox
        self.documents: MongoOutboxDocuments | BatchedOutboxDocuments = (
            BatchedOutboxDocuments(
                self.work_orders_collection,
                clear_wait,
                wait_of=_clear_wait_of(clear_wait, closed_clear_wait),
            )
            if clear_wait > 0
            else MongoOutboxDocuments(self.work_orders_collection)
        )
        if outbox is not None:
            outbox.watch(self.documents)
            outbox.when_unrouted(self._came_back)
        # Lookups of concurrent messages go out together (one find for them all).
        self._by_number = Lookup(self.work_orders_collection)
        self._by_work_order_id = Lookup(self.work_orders_collection, "work_order_id")
        self._reply = Lookup(self.replies)
        # New work orders of concurrent dispatches go out together (one insert for them all).
        self._inserting = Inserts(self.work_orders_collection)
        # So do the team days of concurrent dispatches (one find for them all).
        self._loads = Coalescing(self._all_loads)
        # Meters taken or consumed and team days counted by concurrent messages: those of
        # one document in one conditional write where it can do them all.
        self._reserving = AllOrEach(self._reserve_one, self._reserve_together)
        self._consuming = AllOrEach(self._consume_one, self._consume_together)
        self._claiming = AllOrEach(self._claim_one, self._claim_together)
        self._settled = Coalescing(self._all_settled)
        settle_wait = clear_wait if settle_wait is None else settle_wait
        self._settling = Deferred(self._all_settled, settle_wait) if settle_wait > 0 else None

    async def ensure_indexes(self) -> None:
        work_orders = self.work_orders_collection
        await work_orders.create_index("work_order_id", unique=True)
        await work_orders.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        await work_orders.create_index("report_message_id", unique=True, sparse=True)
        await work_orders.create_index("stock_pending", sparse=True)
        await work_orders.create_index([("status", ASCENDING), ("due_by", ASCENDING)])
        await work_orders.create_index("offer_at", sparse=True)
        await self.documents.ensure_index()
        await self.team_days.create_index([("day", ASCENDING), ("team_id", ASCENDING)])

    # --- teams and their capacity ------------------------------------------------------

    async def teams(self, *, fresh: bool = False) -> list[Team]:
        # Read at most once per TEAMS_FRESH: a dispatch needs them, they change rarely.
        now = time.monotonic()
        if fresh or self._teams is None or now - self._teams[0] >= TEAMS_FRESH:
            cursor = self.teams_collection.find().sort("_id", ASCENDING)
            self._teams = (now, [_team(row) for row in await cursor.to_list()])
        return list(self._teams[1])

    async def upsert_teams(self, teams: Sequence[Team]) -> int:
        for team in teams:
            await self.teams_collection.replace_one(
                {"_id": team.team_id}, _team_document(team), upsert=True
            )
        self._teams = None
        return len(teams)

    async def team_loads(self, day: str, team_ids: Sequence[str]) -> dict[str, list[str]]:
        return await self._loads((day, tuple(team_ids)))

    async def _all_loads(
        self, asks: list[tuple[str, tuple[str, ...]]]
    ) -> list[dict[str, list[str]]]:
        """One ``find`` for the team days that concurrent dispatches want; each gets the
        days of its own teams (lists of its own)."""
        wanted: dict[str, set[str]] = {}
        for day, team_ids in asks:
            wanted.setdefault(day, set()).update(team_ids)
        queries = [{"day": day, "team_id": {"$in": sorted(ids)}} for day, ids in wanted.items()]
        query = queries[0] if len(queries) == 1 else {"$or": queries}
        found = {
            (row["day"], row["team_id"]): row.get("orders") or []
            for row in await self.team_days.find(query).to_list()
        }
        return [
            {team_id: list(found[day, team_id]) for team_id in team_ids if (day, team_id) in found}
            for day, team_ids in asks
        ]

    async def claim(self, team: Team, day: str, number: str) -> bool:
        return await self._claiming((team, day), number)

    async def _claim_together(self, team_day: tuple[Team, str], numbers: list[str]) -> bool:
        """All of ``numbers`` on the team's day in one write, if it has room for them all
        and holds none of them yet; else none."""
        team, day = team_day
        written = await self.team_days.update_one(
            {
                "_id": capacity.team_day_id(team.team_id, day),
                "taken": {"$lte": team.daily_capacity - len(numbers)},
                "orders": {"$nin": numbers},
            },
            {
                "$push": {"orders": {"$each": numbers}},
                "$inc": {"taken": len(numbers), "version": 1},
            },
        )
        return bool(written.matched_count)

    async def _claim_one(self, team_day: tuple[Team, str], number: str) -> bool:
        team, day = team_day
        key = capacity.team_day_id(team.team_id, day)
        # One round trip while the day's document keeps ``taken`` and has room.
        written = await self.team_days.update_one(
            {"_id": key, "taken": {"$lt": team.daily_capacity}, "orders": {"$nin": [number]}},
            {"$push": {"orders": number}, "$inc": {"taken": 1, "version": 1}},
        )
        if written.matched_count:
            return True
        # Full, held already, the day's first claim, or a document without ``taken``.
        return bool(
            await self._change(self.team_days, key, lambda d: capacity.claim(team, day, d, number))
        )

    async def unclaim(self, team_id: str, day: str, number: str) -> bool:
        key = capacity.team_day_id(team_id, day)
        return bool(await self._change(self.team_days, key, lambda d: capacity.unclaim(d, number)))

    async def forget_team_days(self, before: str) -> int:
        result = await self.team_days.delete_many({"day": {"$lt": before}})
        return int(result.deleted_count)

    # --- meter stock per district ------------------------------------------------------

    async def reserve(self, district: str, number: str) -> bool:
        return await self._reserving(district, number)

    async def _reserve_together(self, district: str, numbers: list[str]) -> bool:
        """A meter for each of ``numbers`` in one write, if enough are free and none of
        them holds one yet; else none."""
        written = await self.stock.update_one(
            {
                "_id": district,
                "available": {"$gte": len(numbers)},
                "reservations": {"$nin": numbers},
            },
            {
                "$push": {"reservations": {"$each": numbers}},
                "$inc": {"available": -len(numbers), "version": 1},
            },
        )
        return bool(written.matched_count)

    async def _reserve_one(self, district: str, number: str) -> bool:
        return await self._update_stock(
            district,
            {"available": {"$gt": 0}, "reservations": {"$nin": [number]}},
            {"$push": {"reservations": number}, "$inc": {"available": -1, "version": 1}},
            lambda d: meters.reserve(district, d, number),
        )

    async def release(self, district: str, number: str) -> bool:
        # Only where ``available`` is kept: $inc would start it at 1 on an older document.
        return await self._update_stock(
            district,
            {"reservations": number, "available": {"$exists": True}},
            {"$pull": {"reservations": number}, "$inc": {"available": 1, "version": 1}},
            lambda d: meters.release(district, d, number),
        )

    async def consume(self, district: str, number: str) -> bool:
        return await self._consuming(district, number)

    async def _consume_together(self, district: str, numbers: list[str]) -> bool:
        """The meters held for all of ``numbers`` in one write, if each holds one; else none."""
        written = await self.stock.update_one(
            {"_id": district, "reservations": {"$all": numbers}},
            {
                "$pullAll": {"reservations": numbers},
                "$inc": {"consumed": len(numbers), "version": 1},
            },
        )
        return bool(written.matched_count)

    async def _consume_one(self, district: str, number: str) -> bool:
        # ``available`` does not change: right on a document with it and one without.
        written = await self.stock.update_one(
            {"_id": district, "reservations": number},
            {"$pull": {"reservations": number}, "$inc": {"consumed": 1, "version": 1}},
        )
        return bool(written.matched_count)  # unmatched: the number held no meter

    async def receive(
        self, district: str, quantity: int, receipt: str, at: datetime
    ) -> meters.Receipt:
        change = lambda d: meters.receive(district, d, quantity, receipt, at)  # noqa: E731
        found: meters.Receipt = await self._change(self.stock, district, change)
        return found

    async def stock_levels(self) -> list[meters.StockLevel]:
        cursor = self.stock.find().sort("_id", ASCENDING)
        return [meters.stock_level(row["_id"], row) for row in await cursor.to_list()]

    # --- work orders -------------------------------------------------------------------

    async def work_order(self, number: str) -> WorkOrder | None:
        return await self._by_number(number)

    async def work_order_by_id(self, work_order_id: str) -> WorkOrder | None:
        return await self._by_work_order_id(work_order_id)

    async def work_order_by_message(self, message_id: str) -> WorkOrder | None:
        return await self._find_work_order({"report_message_id": message_id})

    async def work_orders(
        self, *, status: str | None = None, stock_pending: bool = False, limit: int = 200
    ) -> list[WorkOrder]:
        query: Document = {}
        if status is not None:
            query["status"] = status
        if stock_pending:
            query["stock_pending"] = {"$exists": True}
        order = [("created_at", ASCENDING), ("_id", ASCENDING)]
        cursor = self.work_orders_collection.find(query).sort(order).limit(limit)
        found: list[WorkOrder] = await cursor.to_list()
        if stock_pending and self._settling is not None:  # settled, the mark on its way out
            settling = self._settling.queued
            return [work_order for work_order in found if work_order["_id"] not in settling]
        return found

    async def count_work_orders(self, status: str) -> int:
        return int(await self.work_orders_collection.count_documents({"status": status}))

    async def past_due(
        self, day: str, *, unannounced: bool = False, limit: int = 1000
    ) -> list[WorkOrder]:
        # $lt on a string matches strings only: a work order without a due date never is.
        query: Document = {
            "status": {"$in": sorted(workorders.OPEN)},
            "due_by": {"$lt": day},
        }
        if unannounced:
            query["overdue_at"] = {"$exists": False}
        order = [("due_by", ASCENDING), ("_id", ASCENDING)]
        cursor = self.work_orders_collection.find(query).sort(order).limit(limit)
        return list(await cursor.to_list())

    async def save_and_publish(
        self,
        work_order: WorkOrder,
        messages: Sequence[Message],
        *,
        replacing: WorkOrder | None = None,
    ) -> bool:
        correlation_id = work_order.get("correlation_id")
        entries = [_entry(message, correlation_id) for message in messages]
        if replacing is None:
            stored = with_outbox({**work_order, "version": 1}, entries)
            try:
                await self._inserting(stored)
            except DuplicateKeyError:  # a concurrent copy of the event got there first
                return False
        else:
            version = replacing["version"]
            # Entries published but not yet taken out (a batch waits a few milliseconds)
            # leave with this write instead of being published again.
            sent = self.documents.take_published(replacing["_id"])
            kept = without_entries({**work_order, "version": version + 1}, sent)
            stored = with_outbox(kept, entries)
            written = await self.work_orders_collection.replace_one(
                {"_id": replacing["_id"], "version": version}, stored
            )
            emptied = (
                self.documents.emptied_at(replacing["_id"], version)
                if not written.matched_count and isinstance(self.documents, BatchedOutboxDocuments)
                else None
            )
            if emptied is not None:
                # Only this process's removal of published entries changed the work order
                # since it was read (a report right after its assignment): the same write
                # at the next version, without those entries, instead of reading again.
                kept = without_entries({**work_order, "version": version + 2}, sent | emptied)
                stored = with_outbox(kept, entries)
                written = await self.work_orders_collection.replace_one(
                    {"_id": replacing["_id"], "version": version + 1}, stored
                )
            if not written.matched_count:
                if sent:  # still in the stored document: taken out as before
                    await self.documents.published(replacing, sorted(sent))
                return False
        if self.outbox is not None:
            await self.outbox.publish_or_leave(self.documents, stored)
        return True

    async def stock_settled(self, number: str) -> None:
        if self._settling is None:
            await self._settled(number)
        else:
            self._settling.add(number)

    async def flush_settled(self) -> None:
        """Take off now the settled marks still waiting for their batch."""
        if self._settling is not None:
            await self._settling.flush()

    async def _all_settled(self, numbers: list[str]) -> list[None]:
        """One update for the work orders whose stock changes were finished together."""
        if len(numbers) == 1:
            await self.work_orders_collection.update_one(
                {"_id": numbers[0]}, {"$unset": {"stock_pending": ""}}
            )
        else:
            await self.work_orders_collection.update_many(
                {"_id": {"$in": sorted(set(numbers))}}, {"$unset": {"stock_pending": ""}}
            )
        return [None for _ in numbers]

    # --- refused reports ---------------------------------------------------------------

    async def _came_back(self, entry: Mapping[str, Any]) -> None:
        """An outbox entry no queue took: a work order's is marked to be sent again."""
        body = entry.get("body")
        if entry.get("exchange") != FIELD_EXCHANGE or not isinstance(body, Mapping):
            return
        number, work_order_id = body.get("application_number"), body.get("work_order_id")
        if isinstance(number, str) and isinstance(work_order_id, str):
            now = self.clock()
            offer_at = workorders.next_offer(now, now)
            await self.mark_unrouted(number, work_order_id, stamp(now), stamp(offer_at))

    async def mark_unrouted(self, number: str, work_order_id: str, at: str, offer_at: str) -> bool:
        # A change of the work order (its ``version`` too): a replacement written from a read
        # taken before the mark loses and is made again from the marked document, which it
        # keeps (the domain's changes carry every field on); a closed one is not sent again.
        marked = await self.work_orders_collection.update_one(
            {"_id": number, "work_order_id": work_order_id, "status": workorders.ASSIGNED},
            {"$set": {"unrouted_at": at, "offer_at": offer_at}, "$inc": {"version": 1}},
        )
        return bool(marked.matched_count == 1)

    async def unrouted(self, now: str, limit: int = 100) -> list[WorkOrder]:
        cursor = (
            self.work_orders_collection.find(
                {"offer_at": {"$lte": now}, "status": workorders.ASSIGNED}
            )
            .sort([("offer_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return list(await cursor.to_list())

    async def count_unrouted(self) -> int:
        query = {"offer_at": {"$exists": True}, "status": workorders.ASSIGNED}
        return int(await self.work_orders_collection.count_documents(query))

    async def move_unrouted(self, work_order: WorkOrder, offer_at: str | None) -> bool:
        update: Document = (
            {"$set": {"offer_at": offer_at}}
            if offer_at
            else {"$unset": {"unrouted_at": "", "offer_at": ""}}
        )
        update["$inc"] = {"version": 1}  # a replacement from an earlier read cannot undo it
        moved = await self.work_orders_collection.update_one(
            {"_id": work_order["_id"], "offer_at": work_order.get("offer_at")}, update
        )
        return bool(moved.matched_count == 1)

    async def send_to_field(self, message: WorkOrderAssigned) -> bool:
        if self.outbox is None:
            return False
        return await self.outbox.messenger.publish(
            message.body(),
            exchange=message.exchange,
            routing_key=message.routing_key,
            message_type=message.message_type,
            mandatory=True,
        )

    async def refusal_for(self, message_id: str) -> Refused | None:
        stored = await self._reply(message_id)
        return None if stored is None else Refused.model_validate(stored["reply"])

    async def remember_refusal(
        self, message_id: str, reply: Refused, listed: WorkOrder | None = None
    ) -> None:
        if listed is not None:
            # Listed once, only on a work order that keeps the list: where none is kept,
            # every report looks for a refusal (a list started now would hide older ones).
            await self.work_orders_collection.update_one(
                {"_id": listed["_id"], "refused_reports": {"$exists": True, "$nin": [message_id]}},
                {"$push": {"refused_reports": message_id}, "$inc": {"version": 1}},
            )
        # A concurrent copy of the same message may have stored it first.
        with suppress(DuplicateKeyError):
            await self.replies.insert_one(
                {"_id": message_id, "reply": reply.model_dump(mode="json")}
            )

    async def _find_work_order(self, query: Document) -> WorkOrder | None:
        found: WorkOrder | None = await self.work_orders_collection.find_one(query)
        return found

    async def _update_stock(
        self,
        district: str,
        guard: Document,
        update: Document,
        change: Callable[[Document | None], Change],
    ) -> bool:
        """One conditional ``update`` of the district's stock where ``guard`` holds: True
        if it matched. Otherwise the pure ``change`` of the document read now answers
        (held already, none free, not held); if it would still change something, the
        document predates ``available`` or changed in between, so it is changed whole.
        """
        written = await self.stock.update_one({"_id": district, **guard}, update)
        if written.matched_count:
            return True
        new, result = change(await self.stock.find_one({"_id": district}))
        if new is None:
            return bool(result)
        return bool(await self._change(self.stock, district, change))

    async def _change(
        self, collection: Any, key: str, change: Callable[[Document | None], Change]
    ) -> Any:
        """Apply a pure ``change`` to one document, retrying until its write wins."""
        while True:
            current = await collection.find_one({"_id": key})
            new, result = change(current)
            if new is None:
                return result
            try:
                if current is None:
                    await collection.insert_one({**new, "_id": key, "version": 1})
                    return result
                written = await collection.replace_one(
                    {"_id": key, "version": current["version"]},
                    {**new, "_id": key, "version": current["version"] + 1},
                )
            except DuplicateKeyError:
                continue  # created concurrently: apply the change to that document
            if written.matched_count:
                return result


def _entry(message: Message, correlation_id: str | None) -> dict[str, Any]:
    """The outbox entry of an event (``meter.events``) or a work order (``meter.field``)."""
    if isinstance(message, WorkOrderAssigned):
        return message_entry(
            message.exchange,
            message.routing_key,
            message.message_type,
            message.body(),
            correlation_id,
            # Dropped by the broker when no queue of the team is bound: reported, not silent.
            mandatory=True,
        )
    return event_entry(message, correlation_id)


def _team(document: Mapping[str, Any]) -> Team:
    return Team(
        team_id=str(document["_id"]),
        name=str(document.get("name", "")),
        district_codes=tuple(document.get("district_codes") or ()),
        daily_capacity=int(document.get("daily_capacity") or 0),
    )


def _team_document(team: Team) -> Document:
    return {
        "_id": team.team_id,
        "name": team.name,
        "district_codes": list(team.district_codes),
        "daily_capacity": team.daily_capacity,
    }


def _clear_wait_of(
    clear_wait: float, closed_clear_wait: float | None
) -> Callable[[Mapping[str, Any]], float] | None:
    """How long a work order's published entries wait to be taken out: an open one may be
    rewritten soon by another dispatcher (which publishes again what it still finds), a
    closed one is not rewritten."""
    if closed_clear_wait is None:
        return None
    closed = workorders.CLOSED

    def wait_of(document: Mapping[str, Any]) -> float:
        return closed_clear_wait if document.get("status") in closed else clear_wait

    return wait_of
