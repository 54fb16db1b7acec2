"""Conditional writes of one document per call (``AllOrEach``): the calls queued together
for one document go as one write that does all or none of them, each alone where it did
none; every caller gets what it would have got alone."""

from __future__ import annotations

import asyncio

from shared.batching import AllOrEach


class Shelves:
    """Documents ``key -> (free, holders)``: each write takes one item for a holder, as a
    district's stock gives a meter to an application (held already: answered True)."""

    def __init__(self, free: dict[str, int]) -> None:
        self.free = dict(free)
        self.holders: dict[str, list[str]] = {key: [] for key in free}
        self.writes: list[tuple[str, list[str]]] = []  # (key, items) per write sent
        self.fail_together: Exception | None = None
        self.fail_one: dict[str, Exception] = {}
        self.in_flight = self.most_at_once = 0

    async def one(self, key: str, holder: str) -> bool:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        await asyncio.sleep(0)  # a round trip
        self.in_flight -= 1
        self.writes.append((key, [holder]))
        if holder in self.fail_one:
            raise self.fail_one[holder]
        if holder in self.holders[key]:
            return True
        if self.free[key] < 1:
            return False
        self.free[key] -= 1
        self.holders[key].append(holder)
        return True

    async def together(self, key: str, holders: list[str]) -> bool:
        await asyncio.sleep(0)
        self.writes.append((key, list(holders)))
        if self.fail_together is not None:
            raise self.fail_together
        if self.free[key] < len(holders) or set(holders) & set(self.holders[key]):
            return False
        self.free[key] -= len(holders)
        self.holders[key].extend(holders)
        return True


async def calls(writes: AllOrEach[str, str], asks: list[tuple[str, str]]) -> list[object]:
    """The asks queued behind one call already under way, as concurrent messages make them."""
    first = asyncio.create_task(writes(*asks[0]))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(writes(key, item)) for key, item in asks[1:]]
    return await asyncio.gather(first, *rest, return_exceptions=True)


async def test_the_calls_queued_for_one_document_go_as_one_write() -> None:
    shelves = Shelves({"A": 10, "B": 10})
    writes = AllOrEach(shelves.one, shelves.together)
    asks = [("A", "1"), ("A", "2"), ("B", "3"), ("A", "4"), ("B", "5")]
    assert await calls(writes, asks) == [True] * 5
    assert shelves.writes == [("A", ["1"]), ("A", ["2", "4"]), ("B", ["3", "5"])]
    assert shelves.holders == {"A": ["1", "2", "4"], "B": ["3", "5"]}
    assert shelves.free == {"A": 7, "B": 8}


async def test_where_the_write_together_does_none_each_goes_alone() -> None:
    shelves = Shelves({"A": 3})
    writes = AllOrEach(shelves.one, shelves.together)
    # One item is taken by the first call; three calls wait for the last two.
    assert await calls(writes, [("A", "1"), ("A", "2"), ("A", "3"), ("A", "4")]) == [
        True,
        True,
        True,
        False,
    ]
    assert shelves.writes == [("A", ["1"]), ("A", ["2", "3", "4"]), *[("A", [n]) for n in "234"]]
    assert shelves.holders == {"A": ["1", "2", "3"]}


async def test_an_item_asked_twice_together_goes_one_by_one() -> None:
    shelves = Shelves({"A": 5})
    writes = AllOrEach(shelves.one, shelves.together)
    assert await calls(writes, [("A", "0"), ("A", "1"), ("A", "1")]) == [True, True, True]
    assert shelves.writes == [("A", ["0"]), ("A", ["1"]), ("A", ["1"])]
    assert shelves.holders == {"A": ["0", "1"]}
    assert shelves.free == {"A": 3}, "the one holder took one item"


async def test_a_failed_write_together_fails_its_calls_only() -> None:
    shelves = Shelves({"A": 5, "B": 5})
    writes = AllOrEach(shelves.one, shelves.together)
    shelves.fail_together = ConnectionError("database unreachable")
    results = await calls(writes, [("B", "0"), ("A", "1"), ("A", "2"), ("B", "3")])
    assert [results[0], results[3]] == [True, True], "B's call behind went alone, and did"
    assert all(isinstance(result, ConnectionError) for result in results[1:3])
    assert shelves.holders == {"A": [], "B": ["0", "3"]}

    shelves.fail_together = None
    assert await calls(writes, [("A", "1"), ("A", "2"), ("A", "4")]) == [True] * 3


async def test_a_failed_write_alone_fails_its_own_call_and_the_others_still_go() -> None:
    shelves = Shelves({"A": 1})
    writes = AllOrEach(shelves.one, shelves.together)
    shelves.fail_one["2"] = TimeoutError("no answer")
    results = await calls(writes, [("A", "0"), ("A", "1"), ("A", "2"), ("A", "3")])
    assert results[0] is True
    assert results[1:] == [False, results[2], False]
    assert isinstance(results[2], TimeoutError)


async def test_calls_on_a_document_that_refuses_them_all_are_answered_in_one_round() -> None:
    shelves = Shelves({"A": 0})
    writes = AllOrEach(shelves.one, shelves.together)
    asks = [("A", str(n)) for n in range(20)]
    assert await calls(writes, asks) == [False] * 20
    # The 19 behind the first were tried together, then alone all at once, not in turn.
    assert shelves.most_at_once == 19
    assert shelves.holders == {"A": []}
