"""The raw broker baseline: a request/reply echo through a quorum queue, aio-pika only.

    python -m bench.raw echo URL PREFETCH            serves until SIGTERM ("ready" when up)
    python -m bench.raw client URL COUNT CONCURRENCY prints one JSON line of figures

The echo server and the client are processes of their own, as the services and the
portals are: the same persistent messages, publisher confirms on both sides, a manual
ack after the reply is confirmed, the same prefetch as a service and the same number of
requests in flight as the portal clients. Each request is one delivery from the quorum
queue: deliveries per second is what the broker can do for the pipeline's kind of work.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from bench.procs import die_with_parent
from bench.stats import latency_summary
from shared.settings import CommonSettings


def prefetch() -> str:
    """The services' prefetch: ``PREFETCH`` as they read it, else their default."""
    return os.environ.get("PREFETCH") or str(CommonSettings.model_fields["prefetch"].default)


EXCHANGE = QUEUE = "bench.raw"
REPLY_TO = "amq.rabbitmq.reply-to"
BODY = json.dumps({"n": 0, "pad": "x" * 400}).encode()  # about a submission's size


async def echo(url: str, prefetch: int) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await channel.set_qos(prefetch_count=prefetch)
    exchange = await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    queue = await channel.declare_queue(
        QUEUE, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 5}
    )
    await queue.bind(exchange, QUEUE)

    async def on_message(message: AbstractIncomingMessage) -> None:
        await channel.default_exchange.publish(
            aio_pika.Message(
                message.body,
                content_type="application/json",
                correlation_id=message.correlation_id,
                message_id=str(uuid.uuid4()),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=message.reply_to or "",
        )
        await message.ack()

    await queue.consume(on_message)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await connection.close()


async def client(url: str, count: int, concurrency: int) -> dict[str, object]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    pending: dict[str, asyncio.Future[float]] = {}

    async def on_reply(message: AbstractIncomingMessage) -> None:
        future = pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter())

    replies = await channel.get_queue(REPLY_TO, ensure=False)
    await replies.consume(on_reply, no_ack=True)
    exchange = await channel.get_exchange(EXCHANGE, ensure=False)

    async def call() -> float:
        correlation_id = str(uuid.uuid4())
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        pending[correlation_id] = future
        started = time.perf_counter()
        await exchange.publish(
            aio_pika.Message(
                BODY,
                content_type="application/json",
                correlation_id=correlation_id,
                message_id=correlation_id,
                reply_to=REPLY_TO,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=QUEUE,
        )
        return await asyncio.wait_for(future, 60) - started

    async def drive(total: int) -> list[float]:
        remaining = [total]
        latencies: list[float] = []

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                latencies.append(await call())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies

    await drive(min(1000, max(concurrency, count // 10)))  # warm-up, not counted
    started = time.perf_counter()
    latencies = await drive(count)
    seconds = time.perf_counter() - started
    await connection.close()
    return {
        "requests": count,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "deliveries_per_s": round(count / seconds, 1),
        "latency_ms": latency_summary(latencies),
    }


async def measure(url: str, requests: int, concurrency: int) -> dict[str, Any]:
    """Starts the echo server and then the client, each a process of its own; their figures."""
    python = sys.executable
    echo = await asyncio.create_subprocess_exec(
        python, "-m", "bench.raw", "echo", url, prefetch(),
        stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
    )  # fmt: skip
    try:
        assert echo.stdout is not None
        line = await asyncio.wait_for(echo.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError("the raw echo server did not start")
        client = await asyncio.create_subprocess_exec(
            python, "-m", "bench.raw", "client", url, str(requests), str(concurrency),
            stdout=asyncio.subprocess.PIPE, preexec_fn=die_with_parent,
        )  # fmt: skip
        out, _ = await client.communicate()
        if client.returncode != 0:
            raise RuntimeError(f"the raw baseline's client failed (exit {client.returncode})")
        result: dict[str, Any] = json.loads(out)
        return result
    finally:
        if echo.returncode is None:
            echo.terminate()
            await echo.wait()


def main(argv: list[str]) -> int:
    if argv[:1] == ["echo"] and len(argv) == 3:
        asyncio.run(echo(argv[1], int(argv[2])))
        return 0
    if argv[:1] == ["client"] and len(argv) == 4:
        print(json.dumps(asyncio.run(client(argv[1], int(argv[2]), int(argv[3])))), flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
