"""Dispatcher's MongoDB adapter: teams, stock, daily capacity, work orders, replies.

Every state document is written whole (insert or replace) and guarded by its ``version``:
a write that lost a race is retried against the fresh document. The embedded server used
where no real MongoDB exists keeps types only that way (DESIGN.md section 10).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.dispatcher import domain
from services.dispatcher.domain import stock as meters

Document = dict[str, Any]


class WorkOrderExists(Exception):
    """A work order for this application is stored already."""


class DispatcherStore(Protocol):
    work_orders: Any  # the collection the outbox flushes

    async def ensure_indexes(self) -> None: ...
    async def teams(self) -> list[domain.Team]: ...
    async def upsert_teams(self, rows: list[Document]) -> int: ...
    async def team_loads(self, day: str, team_ids: list[str]) -> dict[str, list[str]]: ...
    async def claim(self, team: domain.Team, day: str, number: str) -> bool: ...
    async def unclaim(self, team_id: str, day: str, number: str) -> bool: ...
    async def reserve(self, district: str, number: str) -> bool: ...
    async def release(self, district: str, number: str) -> bool: ...
    async def consume(self, district: str, number: str) -> bool: ...
    async def receive(self, district: str, quantity: int, receipt: str) -> int: ...
    async def stock_levels(self) -> list[meters.StockLevel]: ...
    async def work_order(self, number: str) -> Document | None: ...
    async def work_order_by_id(self, work_order_id: str) -> Document | None: ...
    async def insert_work_order(self, document: Document) -> None: ...
    async def replace_work_order(self, current: Document, new: Document) -> bool: ...
    async def stock_settled(self, number: str) -> None: ...
    async def work_orders_where(self, query: Document, limit: int = 200) -> list[Document]: ...
    async def work_order_by_message(self, message_id: str) -> Document | None: ...
    async def refusal_for(self, message_id: str) -> Document | None: ...
    async def remember_refusal(self, message_id: str, reply: Document) -> None: ...


class MongoDispatcherStore:
    def __init__(self, db: Any) -> None:
        self.teams_collection = db["teams"]
        self.stock = db["stock"]
        self.team_days = db["team_days"]
        self.work_orders = db["work_orders"]
        self.replies = db["replies"]

    async def ensure_indexes(self) -> None:
        await self.work_orders.create_index("work_order_id", unique=True)
        await self.work_orders.create_index([("status", ASCENDING), ("created_at", ASCENDING)])
        await self.work_orders.create_index("report_message_id", unique=True, sparse=True)
        await self.work_orders.create_index("stock_pending", sparse=True)
        await self.work_orders.create_index([("outbox_since", ASCENDING)], sparse=True)
        await self.team_days.create_index([("day", ASCENDING), ("team_id", ASCENDING)])

    async def teams(self) -> list[domain.Team]:
        cursor = self.teams_collection.find().sort("_id", ASCENDING)
        return [domain.Team.from_document(row) for row in await cursor.to_list()]

    async def upsert_teams(self, rows: list[Document]) -> int:
        for row in rows:
            await self.teams_collection.replace_one({"_id": row["_id"]}, row, upsert=True)
        return len(rows)

    async def team_loads(self, day: str, team_ids: list[str]) -> dict[str, list[str]]:
        cursor = self.team_days.find({"day": day, "team_id": {"$in": team_ids}})
        return {row["team_id"]: list(row.get("orders") or []) for row in await cursor.to_list()}

    async def claim(self, team: domain.Team, day: str, number: str) -> bool:
        key = domain.team_day_id(team.team_id, day)
        return bool(
            await self._change(self.team_days, key, lambda d: domain.claim(team, day, d, number))
        )

    async def unclaim(self, team_id: str, day: str, number: str) -> bool:
        key = domain.team_day_id(team_id, day)
        return bool(await self._change(self.team_days, key, lambda d: domain.unclaim(d, number)))

    async def reserve(self, district: str, number: str) -> bool:
        return bool(
            await self._change(self.stock, district, lambda d: meters.reserve(district, d, number))
        )

    async def release(self, district: str, number: str) -> bool:
        return bool(
            await self._change(self.stock, district, lambda d: meters.release(district, d, number))
        )

    async def consume(self, district: str, number: str) -> bool:
        return bool(
            await self._change(self.stock, district, lambda d: meters.consume(district, d, number))
        )

    async def receive(self, district: str, quantity: int, receipt: str) -> int:
        change = lambda d: meters.receive(district, d, quantity, receipt)  # noqa: E731
        return int(await self._change(self.stock, district, change))

    async def stock_levels(self) -> list[meters.StockLevel]:
        cursor = self.stock.find().sort("_id", ASCENDING)
        return [meters.stock_level(row["_id"], row) for row in await cursor.to_list()]

    async def work_order(self, number: str) -> Document | None:
        found: Document | None = await self.work_orders.find_one({"_id": number})
        return found

    async def work_order_by_id(self, work_order_id: str) -> Document | None:
        found: Document | None = await self.work_orders.find_one({"work_order_id": work_order_id})
        return found

    async def insert_work_order(self, document: Document) -> None:
        try:
            await self.work_orders.insert_one(document)
        except DuplicateKeyError as exc:
            raise WorkOrderExists(document["_id"]) from exc

    async def replace_work_order(self, current: Document, new: Document) -> bool:
        """Write ``new`` if the stored work order is still ``current``; False if it moved on."""
        result = await self.work_orders.replace_one(
            {"_id": current["_id"], "version": current["version"]},
            {**new, "version": current["version"] + 1},
        )
        return bool(result.matched_count)

    async def stock_settled(self, number: str) -> None:
        await self.work_orders.update_one({"_id": number}, {"$unset": {"stock_pending": ""}})

    async def work_orders_where(self, query: Document, limit: int = 200) -> list[Document]:
        order = [("created_at", ASCENDING), ("_id", ASCENDING)]
        cursor = self.work_orders.find(query).sort(order).limit(limit)
        return list(await cursor.to_list())

    async def work_order_by_message(self, message_id: str) -> Document | None:
        """The work order a report with this ``message_id`` closed, if any."""
        found: Document | None = await self.work_orders.find_one({"report_message_id": message_id})
        return found

    async def refusal_for(self, message_id: str) -> Document | None:
        """The refusal a report with this ``message_id`` got the first time, if any."""
        stored = await self.replies.find_one({"_id": message_id})
        return None if stored is None else dict(stored["reply"])

    async def remember_refusal(self, message_id: str, reply: Document) -> None:
        # A concurrent copy of the same message may have stored it first.
        with suppress(DuplicateKeyError):
            await self.replies.insert_one({"_id": message_id, "reply": reply})

    async def _change(
        self, collection: Any, key: str, change: Callable[[Document | None], domain.Change]
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
