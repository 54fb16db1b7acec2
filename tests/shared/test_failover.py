"""With several broker addresses a service starts on the first that answers and, when the
node it is connected to goes away, reconnects to another one and consumes again.

The "nodes" here are two TCP proxies in front of the test's broker: stopping a proxy is, for
the service, a node that died (its connections cut, its port refusing)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from typing import Any

import httpx
import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from tests.intake.fakes import MemoryIntakeStore
from tests.support.amqp import Portal
from tests.support.infra import free_port

pytestmark = pytest.mark.broker


class Proxy:
    """Forwards 127.0.0.1:``port`` to the broker; ``stop`` cuts every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.accepted = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers.update({writer, upstream_writer})
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self.writers.discard(writer)
            writer.transport.abort()


def through(url: str, proxy: Proxy) -> str:
    parts = urllib.parse.urlsplit(url)
    netloc = f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


async def answered(url: str) -> bool:
    async with Portal(url) as portal:
        reply = await portal.request("intake.list_reasons", {"language": "en"}, timeout=30)
    return "reasons" in reply.body


async def until_readiness(port: int, status: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while (answer := await http.get("/ready")).status_code != status:
            assert asyncio.get_running_loop().time() < deadline, answer.text
            await asyncio.sleep(0.05)


async def test_a_service_starts_on_an_answering_address_and_fails_over_when_its_node_dies(
    settings_values: dict[str, Any], rabbitmq_url: str
) -> None:
    parts = urllib.parse.urlsplit(rabbitmq_url)
    broker = (parts.hostname or "127.0.0.1", parts.port or 5672)
    first, second = Proxy(broker), Proxy(broker)
    await second.start()  # the first "node" is down when the service starts
    port = free_port()
    settings = IntakeSettings(
        **settings_values
        | {
            "rabbitmq_url": f"{through(rabbitmq_url, first)},{through(rabbitmq_url, second)}",
            "health_port": port,
        }
    )
    app = create_app(settings, store=MemoryIntakeStore(), configure_logging=False)
    await app.start()
    try:
        await until_readiness(port, 200)
        assert first.accepted == 0 < second.accepted
        assert await answered(rabbitmq_url)

        await first.start()
        await second.stop()  # the node the service is on dies
        await until_readiness(port, 503)
        await until_readiness(port, 200)
        assert first.accepted > 0
        assert await answered(rabbitmq_url)
    finally:
        await app.stop()
        for proxy in (first, second):
            if proxy.server is not None:
                with contextlib.suppress(Exception):
                    await proxy.stop()
