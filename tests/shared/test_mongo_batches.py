"""Inserts (those that keep what is stored, and those that tell each caller its refusal)
and lookups by one field: one command for several callers, each told its own answer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pymongo.errors import DuplicateKeyError

from shared.mongo import Inserts, Lookup, insert_new, make_client

pytestmark = pytest.mark.store


async def test_each_group_counts_only_its_own_new_documents(mongo_url: str) -> None:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_inserts"]
    try:
        collection = db["things"]
        await collection.insert_one({"_id": "a", "kept": True})

        counts = await insert_new(
            collection,
            [
                [{"_id": "a", "kept": False}, {"_id": "b"}],
                [{"_id": "b", "second": True}, {"_id": "c"}],
                [],
                [{"_id": "a"}],
            ],
        )

        assert counts == [1, 1, 0, 0]
        assert await collection.find_one({"_id": "a"}) == {"_id": "a", "kept": True}
        assert await collection.find_one({"_id": "b"}) == {"_id": "b"}  # the first one wins
        assert await collection.count_documents({}) == 3
        assert await insert_new(collection, [[], []]) == [0, 0]
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_lookups_made_together_are_one_find_and_each_gets_its_own_answer(
    mongo_url: str,
) -> None:
    sent: list[int] = []
    client = make_client(mongo_url, "tests", on_command=lambda _name: sent.append(1))
    db = client[f"t{uuid.uuid4().hex[:10]}_lookups"]
    try:
        collection = db["things"]
        await collection.insert_many(
            [{"_id": n, "key": f"k{n}", "body": {"n": n}, "hidden": True} for n in range(5)]
        )
        by_key = Lookup(collection, "key", {"body": 1})
        sent.clear()

        alone = await by_key("k0")
        together = await asyncio.gather(*(by_key(key) for key in ("k1", "k9", "k2", "k1")))

        assert alone == {"_id": 0, "key": "k0", "body": {"n": 0}}
        assert [None if found is None else found["_id"] for found in together] == [1, None, 2, 1]
        assert len(sent) == 2  # one find_one, then one find for the four lookups
        assert together[0] is not together[3]  # the same document, a copy each
        assert await Lookup(collection)(3) == {
            "_id": 3,
            "key": "k3",
            "body": {"n": 3},
            "hidden": True,
        }
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_inserts_made_together_are_one_command_and_each_is_told_its_own(
    mongo_url: str,
) -> None:
    sent: list[str] = []
    client = make_client(mongo_url, "tests", on_command=sent.append)
    db = client[f"t{uuid.uuid4().hex[:10]}_inserts"]
    try:
        collection = db["things"]
        await collection.create_index("key", unique=True)
        await collection.insert_one({"_id": 0, "key": "k0"})
        inserts = Inserts(collection)
        sent.clear()

        await inserts({"_id": 1, "key": "k1"})  # alone: insert_one
        with pytest.raises(DuplicateKeyError):
            await inserts({"_id": 9, "key": "k0"})
        outcomes = await asyncio.gather(
            inserts({"_id": 2, "key": "k2"}),
            inserts({"_id": 3, "key": "k1"}),  # stored before
            inserts({"_id": 4, "key": "k4"}),
            inserts({"_id": 5, "key": "k4"}),  # the same batch's
            inserts({"_id": 2, "key": "k6"}),  # the same batch's _id
            return_exceptions=True,
        )

        assert [type(outcome).__name__ for outcome in outcomes] == [
            "NoneType",
            "DuplicateKeyError",
            "NoneType",
            "DuplicateKeyError",
            "DuplicateKeyError",
        ]
        assert "key" in str(outcomes[3])  # names the index that refused it, as insert_one
        assert sent == ["insert things"] * 3  # two alone, then one for the five
        stored = sorted(d["_id"] for d in await collection.find({}, {"_id": 1}).to_list())
        assert stored == [0, 1, 2, 4]
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_each_command_is_counted_under_its_name_and_collection(mongo_url: str) -> None:
    sent: list[str] = []
    client = make_client(mongo_url, "tests", on_command=sent.append)
    db = client[f"t{uuid.uuid4().hex[:10]}_names"]
    try:
        await db["things"].insert_many([{"_id": n} for n in range(3)])
        sent.clear()

        await db["things"].update_one({"_id": 0}, {"$set": {"seen": True}})
        assert [doc async for doc in db["things"].find({}, batch_size=2)] != []
        await db.command("ping")

        assert sent == ["update things", "find things", "getMore things", "ping"]
    finally:
        await client.drop_database(db.name)
        await client.close()
