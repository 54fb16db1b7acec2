"""A counting TCP proxy in front of the database: round trips per service, by command.

    python -m bench.dbproxy TARGET_HOST:PORT METRICS_PORT SERVICE=PORT...

Used only with ``BENCH_DB_PROXY=1``, for services that do not count their own database
commands yet: each service gets its own listening port, every MongoDB wire message a
client sends is one round trip, named by its command and collection (the first element
of an ``OP_MSG`` body). ``GET /metrics`` on METRICS_PORT answers
``meter_db_commands_total{service,command}`` in Prometheus text; the driver's own
monitoring (hello, ping…) is counted apart as ``bench_db_monitoring_total``. The proxy
adds a loopback hop to every round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import struct
import sys
from collections import Counter

MONITORING = {"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "buildinfo"}
OP_MSG = 2013
counts: Counter[tuple[str, str]] = Counter()


def command_name(message: bytes) -> str:
    """The command of one whole wire message and the collection it names, as
    ``find work_orders`` (``OP_MSG`` section 0: the body's first element), else its opcode."""
    if len(message) < 26:
        return "unknown"
    opcode = struct.unpack_from("<i", message, 12)[0]
    if opcode != OP_MSG or message[20] != 0:
        return f"op{opcode}"
    kind = message[25]  # header 16, flags 4, section kind 1, document size 4: element type
    start = 26
    end = message.find(b"\x00", start)
    if end <= start:
        return "unknown"
    name = message[start:end].decode("utf-8", "replace")
    if kind == 0x02 and end + 5 <= len(message):  # a string: the collection
        size = struct.unpack_from("<i", message, end + 1)[0]
        collection = message[end + 5 : end + 4 + size].decode("utf-8", "replace")
        return f"{name} {collection}"
    return name


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: str | None
) -> None:
    buffer = b""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            if service is not None:
                buffer += data
                while len(buffer) >= 4:
                    size = struct.unpack_from("<i", buffer)[0]
                    if len(buffer) < size:
                        break
                    name = command_name(buffer[:size])
                    metric = "monitoring" if name.split(" ")[0] in MONITORING else "commands"
                    counts[(service, f"{metric}:{name}")] += 1
                    buffer = buffer[size:]
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


async def _serve(service: str, port: int, host: str, target_port: int) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, target_port)
        await asyncio.gather(
            _pipe(reader, upstream_writer, service), _pipe(upstream_reader, writer, None)
        )

    return await asyncio.start_server(on_client, "127.0.0.1", port)


def exposition() -> str:
    lines = []
    for (service, key), value in sorted(counts.items()):
        metric, _, name = key.partition(":")
        family = "meter_db_commands_total" if metric == "commands" else "bench_db_monitoring_total"
        lines.append(f'{family}{{service="{service}",command="{name}"}} {value}')
    return "\n".join(lines) + "\n"


async def _metrics(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while (await reader.readline()).strip():
            pass
        body = exposition().encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()


async def main(argv: list[str]) -> None:
    target, metrics_port, *listen = argv
    host, _, port = target.rpartition(":")
    servers = [await asyncio.start_server(_metrics, "127.0.0.1", int(metrics_port))]
    for item in listen:
        service, _, service_port = item.partition("=")
        servers.append(await _serve(service, int(service_port), host, int(port)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
