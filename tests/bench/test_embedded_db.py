"""The embedded server with a pool of command threads of its own, or with a thread for each
database (``bench/embedded_db.py``, ``BENCH_DB_THREADS``): a command to one database does not
wait behind another's queue.

Started plainly, nx-27017 runs every command in asyncio's default pool of
``min(32, cores + 4)`` threads, each waiting for its database's lock: a busy database's
waiting commands hold every thread. The test asserts an order, not a duration: many slow
commands to one database are in flight when a quick one goes to another, and the quick
one must be answered while most of them still wait. Started plainly, at most a handful
(the pool's size) would still wait.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from bench import embedded_db
from tests.support import infra

SLOW = 60  # commands in flight to the busy database
DOCUMENT = {"payload": "x" * 4000, "items": list(range(400))}


def test_zero_threads_starts_nx_27017_as_it_comes_and_more_start_it_through_serve() -> None:
    plain = embedded_db.command(5, "memory", "/tmp/l", "/tmp/p", 0)
    assert plain[0] == str(Path(sys.executable).with_name("nx-27017"))
    assert plain[1:] == [
        *("--host", "127.0.0.1", "-p", "5", "--data-dir", "memory"),
        *("--log-file", "/tmp/l", "--pid-file", "/tmp/p"),
    ]
    wide = embedded_db.command(5, "memory", "/tmp/l", "/tmp/p", 64)
    assert wide[:5] == [sys.executable, "-m", "bench.embedded_db", "serve", "64"]
    assert wide[5:] == plain[1:]
    own = embedded_db.command(5, "memory", "/tmp/l", "/tmp/p", embedded_db.PER_DATABASE)
    assert own[:5] == [sys.executable, "-m", "bench.embedded_db", "serve", "per-database"]
    assert own[5:] == plain[1:]


def test_serve_refuses_what_it_cannot_use() -> None:
    assert embedded_db.main(["serve", "0"]) == 2
    assert embedded_db.main(["serve", "many"]) == 2
    assert embedded_db.main(["serve", "-1"]) == 2
    assert embedded_db.main(["other"]) == 2


@pytest.fixture(
    scope="module", params=[embedded_db.WIDE, embedded_db.PER_DATABASE], ids=["wide", "own"]
)
def wide_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The server with a pool of ``WIDE`` threads, or with a thread for each database."""
    if not Path(sys.executable).with_name("nx-27017").exists():
        infra.unavailable("nx-27017 is not installed")
    directory = tmp_path_factory.mktemp("nx")
    port = infra.free_port()
    started = embedded_db.command(
        port, "memory", str(directory / "nx.log"), str(directory / "nx.pid"), request.param
    )
    process = subprocess.Popen(started, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        infra.wait_for_port("127.0.0.1", port)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        process.kill()  # its data is in memory only: nothing to shut down cleanly
        process.wait(timeout=10)


async def test_a_command_to_one_database_is_answered_while_another_is_busy(
    wide_server: str,
) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        wide_server, maxPoolSize=SLOW + 10
    )
    try:
        busy, quiet = client["busy"]["t"], client["quiet"]["t"]
        await quiet.insert_one({"_id": "k", "n": 1})
        # A connection per slow command, opened beforehand, so all of them are sent at once.
        await asyncio.gather(*(busy.find_one({"_id": "none"}) for _ in range(SLOW)))
        finished = 0
        begun = asyncio.Event()

        async def slow() -> None:
            nonlocal finished
            await busy.insert_many([dict(DOCUMENT) for _ in range(20)])
            finished += 1
            begun.set()

        tasks = [asyncio.create_task(slow()) for _ in range(SLOW)]
        await begun.wait()  # the busy database has begun working through them
        found = await quiet.find_one({"_id": "k"})
        waiting = SLOW - finished
        await asyncio.gather(*tasks)
        assert found == {"_id": "k", "n": 1}
        assert finished == SLOW
        assert waiting >= SLOW // 2, f"the quick command waited for {SLOW - waiting} slow ones"
    finally:
        await client.close()
