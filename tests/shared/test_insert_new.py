"""Inserts that keep what is stored: one command for several callers' documents, each told
how many of its own were new."""

from __future__ import annotations

import uuid

import pytest

from shared.mongo import insert_new, make_client

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
