"""The latency proxy: answers arrive late and in order; a dead upstream closes the client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from faults.procs import free_port
from faults.proxy import Latency, serve


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.close()


@pytest.fixture
async def upstream() -> AsyncIterator[int]:
    port = free_port()
    server = await asyncio.start_server(echo, "127.0.0.1", port)
    yield port
    server.close()


async def through(proxy_port: int, chunks: list[bytes]) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    started = time.monotonic()
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
    answer = await asyncio.wait_for(reader.readexactly(sum(map(len, chunks))), 10)
    writer.close()
    return answer, time.monotonic() - started


async def test_with_no_delay_the_proxy_passes_everything_at_once(upstream: int) -> None:
    port = free_port()
    server = await serve(port, upstream, Latency(None))
    answer, took = await through(port, [b"ping"])
    server.close()
    assert answer == b"ping"
    assert took < 0.5


async def test_a_delay_makes_every_answer_late_and_keeps_the_order(upstream: int) -> None:
    latency = Latency(None)
    latency.seconds = 0.4
    port = free_port()
    server = await serve(port, upstream, latency)
    answer, took = await through(port, [b"one,", b"two,", b"three"])
    server.close()
    assert answer == b"one,two,three"
    assert took >= 0.4


async def test_the_delay_is_read_from_its_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "delay"
    latency = Latency(path)
    latency.read()
    assert latency.seconds == 0.0
    path.write_text("0.25")
    latency.read()
    assert latency.seconds == 0.25
    path.write_text("garbage")
    latency.read()
    assert latency.seconds == 0.0


async def test_when_the_upstream_is_gone_the_client_is_closed_at_once() -> None:
    port = free_port()
    server = await serve(port, free_port(), Latency(None))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await asyncio.wait_for(reader.read(10), 5) == b""
    writer.close()
    server.close()
