"""A TCP proxy that adds latency on demand: slow handlers made from the outside.

    python -m faults.proxy LISTEN_PORT UPSTREAM_PORT --delay-file FILE

Every chunk the upstream (MongoDB) sends back reaches the client ``delay`` seconds later,
in order; ``delay`` is read from FILE twice a second (missing, empty or 0: none). Stops
on SIGTERM or SIGINT. When the upstream does not answer, the client's connection is
closed at once, as a server that went away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
CHUNK = 65536


class Latency:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.seconds = 0.0

    def read(self) -> None:
        try:
            text = self.path.read_text().strip() if self.path else ""
            self.seconds = max(0.0, float(text or 0))
        except (OSError, ValueError):
            self.seconds = 0.0

    async def follow(self) -> None:
        while True:
            self.read()
            await asyncio.sleep(0.5)


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Callable[[], float]
) -> None:
    """Copy ``reader`` to ``writer``; each chunk leaves ``delay()`` seconds after it came."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(CHUNK):
            queue.put_nowait((loop.time() + delay(), data))
            if sender.done():
                break
    except OSError:
        pass
    finally:
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await sender
        writer.close()


async def _handle(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    upstream_port: int,
    latency: Latency,
) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(HOST, upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        _pump(client_reader, upstream_writer, lambda: 0.0),
        _pump(upstream_reader, client_writer, lambda: latency.seconds),
        return_exceptions=True,
    )


async def serve(listen_port: int, upstream_port: int, latency: Latency) -> asyncio.Server:
    return await asyncio.start_server(
        lambda r, w: _handle(r, w, upstream_port, latency), HOST, listen_port
    )


async def run(listen_port: int, upstream_port: int, delay_file: Path | None) -> None:
    latency = Latency(delay_file)
    follower = asyncio.create_task(latency.follow())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await serve(listen_port, upstream_port, latency)
    print(f"[proxy] {HOST}:{listen_port} -> {HOST}:{upstream_port}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    follower.cancel()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.proxy", description=__doc__)
    parser.add_argument("listen_port", type=int)
    parser.add_argument("upstream_port", type=int)
    parser.add_argument("--delay-file", type=Path)
    args = parser.parse_args(argv)
    asyncio.run(run(args.listen_port, args.upstream_port, args.delay_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
