"""``make bench``: request/reply throughput of intake against the raw broker, same run.

Prints, for several rounds, submissions per second and latency through intake (a
separate process, real broker, MongoDB-compatible server) next to a raw aio-pika echo
server doing the same request/reply over the same broker; then the medians. The
machine is shared and noisy: compare the ratio, not absolute figures.

    BENCH_REQUESTS=1000 BENCH_CONCURRENCY=32 BENCH_ROUNDS=5 make bench
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import aio_pika

from services.intake.mongo import MongoIntakeStore
from shared.mongo import make_client
from tests.support import infra
from tests.support.amqp import wait_until_consumed

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "32"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


class Client:
    """Request/reply over one connection, ``concurrency`` requests in flight."""

    async def start(self, url: str) -> None:
        self.connection = await aio_pika.connect(url)
        self.channel = await self.connection.channel()
        self.replies = await self.channel.declare_queue(exclusive=True)
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        await self.replies.consume(self._on_reply, no_ack=True)

    async def _on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self.pending.pop(message.correlation_id or "", None)
        if future is not None:
            future.set_result(message.body)

    async def call(self, exchange: aio_pika.abc.AbstractExchange, key: str, body: bytes) -> float:
        correlation_id = str(uuid.uuid4())
        future = asyncio.get_running_loop().create_future()
        self.pending[correlation_id] = future
        started = time.perf_counter()
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                user_id="guest",
                correlation_id=correlation_id,
                reply_to=self.replies.name,
                message_id=correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=key,
        )
        await asyncio.wait_for(future, 30)
        return time.perf_counter() - started

    async def run(
        self, exchange: aio_pika.abc.AbstractExchange, key: str, bodies: list[bytes]
    ) -> dict[str, float]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for body in bodies:
            queue.put_nowait(body)
        latencies: list[float] = []

        async def worker() -> None:
            while not queue.empty():
                latencies.append(await self.call(exchange, key, queue.get_nowait()))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
        latencies.sort()
        return {
            "per_s": len(bodies) / elapsed,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000,
        }


async def raw_echo_round(url: str, client: Client) -> dict[str, float]:
    """The broker alone: a quorum queue and an echo consumer replying with confirms."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=32)
        exchange = await channel.declare_exchange("bench.raw", aio_pika.ExchangeType.DIRECT)
        queue = await channel.declare_queue(
            "bench.raw", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, "bench.raw")

        async def echo(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    correlation_id=message.correlation_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=message.reply_to or "",
            )
            await message.ack()

        tag = await queue.consume(echo)
        client_exchange = await client.channel.get_exchange("bench.raw")
        bodies = [json.dumps({"n": n, "pad": "x" * 300}).encode() for n in range(REQUESTS)]
        result = await client.run(client_exchange, "bench.raw", bodies)
        await queue.cancel(tag)
        return result


async def intake_round(url: str, client: Client, round_no: int) -> dict[str, float]:
    commands = await client.channel.get_exchange("meter.commands")
    bodies = [
        json.dumps(
            {
                "submission_id": str(uuid.uuid4()),
                "applicant_fin": "5ABCD12",
                "subscriber_code": f"B{n:06d}",
                "reason_code": [
                    "new_installation",
                    "relocate_meter",
                    "replace_faulty",
                    "register_existing",
                    "additional_meter",
                ][round_no % 5],
                "phone": "+994501234567",
                "email": "bench@example.az",
                "data_confirmed": True,
            }
        ).encode()
        for n in range(REQUESTS)
    ]
    return await client.run(commands, "intake.submit_application", bodies)


async def seed(mongo_url: str, prefix: str) -> None:
    client = make_client(mongo_url, "bench")
    store = MongoIntakeStore(client[f"{prefix}intake"])
    await store.ensure_indexes()
    await store.upsert_subscribers(
        [
            {
                "_id": f"B{n:06d}",
                "applicant_fin": "5ABCD12",
                "address": "Bakı",
                "district_code": "BAK-NAS",
                "active_meters": [],
            }
            for n in range(REQUESTS)
        ]
    )
    await client.close()


def main() -> None:
    base = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    admin = infra.VhostAdmin(base)
    vhost = f"bench-{uuid.uuid4().hex[:8]}"
    url = admin.create(vhost)
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    with ExitStack() as stack:
        mongo_url = os.environ.get("MONGO_URL") or stack.enter_context(infra.embedded_mongo())
        asyncio.run(seed(mongo_url, prefix))
        env = {
            **os.environ,
            "RABBITMQ_URL": url,
            "MONGO_URL": mongo_url,
            "DATABASE_PREFIX": prefix,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
        }
        service = subprocess.Popen([sys.executable, "-m", "services.intake"], cwd=ROOT, env=env)
        try:
            asyncio.run(measure(url))
        finally:
            service.terminate()
            service.wait(timeout=30)
            admin.delete(vhost)


async def measure(url: str) -> None:
    await wait_until_consumed(url, "intake.submit_application", timeout=60)
    client = Client()
    await client.start(url)
    print(f"{REQUESTS} request/replies per round, {CONCURRENCY} in flight, {ROUNDS} rounds")
    raw, intake = [], []
    for round_no in range(ROUNDS):
        raw.append(await raw_echo_round(url, client))
        intake.append(await intake_round(url, client, round_no))
        print(
            f"round {round_no + 1}: raw broker {raw[-1]['per_s']:7.0f}/s "
            f"p50 {raw[-1]['p50_ms']:6.1f} ms | intake submissions {intake[-1]['per_s']:7.0f}/s "
            f"p50 {intake[-1]['p50_ms']:6.1f} ms p95 {intake[-1]['p95_ms']:6.1f} ms"
        )
    med = {
        name: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for name, rows in (("raw", raw), ("intake", intake))
    }
    print(
        f"median: raw broker {med['raw']['per_s']:.0f}/s (p50 {med['raw']['p50_ms']:.1f} ms); "
        f"intake {med['intake']['per_s']:.0f}/s (p50 {med['intake']['p50_ms']:.1f} ms, "
        f"p95 {med['intake']['p95_ms']:.1f} ms) = "
        f"{med['intake']['per_s'] / med['raw']['per_s']:.0%} of the raw broker"
    )
    await client.connection.close()


if __name__ == "__main__":
    main()
