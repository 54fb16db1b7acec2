"""Development sinks for ``make run``: what would have been sent, written under ``var/``.

    python -m devtools.sinks mail PORT DIR   an SMTP server; each e-mail is DIR/<name>.eml
                                             plus DIR/<name>.txt with the decoded text
    python -m devtools.sinks sms PORT DIR    the SMS gateway contract (POST JSON {to, text,
                                             reference}, bearer optional, answers 200
                                             {"id"}); each SMS is a line of DIR/sms.jsonl
                                             plus DIR/<name>.txt

Both listen on 127.0.0.1 and stop on SIGTERM or SIGINT. ``serve_smtp`` and ``serve_http``
are also what the notifier's tests stand their SMTP server and gateway on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier.domain import smsparts

HOST = "127.0.0.1"


def _name(counter: itertools.count[int]) -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{next(counter):04d}"


# --- e-mail ---------------------------------------------------------------------------


async def serve_smtp(handler: Any, port: int, host: str = HOST) -> asyncio.Server:
    """An aiosmtpd SMTP server in this event loop; ``handler`` has aiosmtpd's hooks."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="sink.local"), host, port
    )


def readable_mail(raw: bytes, recipients: list[str]) -> str:
    """The e-mail as a person reads it: decoded headers and the plain-text part."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain", "html"))
    kinds = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    lines = [
        f"From: {message['From']}",
        f"To: {', '.join(recipients)}",
        f"Subject: {message['Subject']}",
        f"Date: {message['Date']}",
        f"Message-ID: {message['Message-ID']}",
        f"Parts: {', '.join(kinds)}",
        "",
        body.get_content() if isinstance(body, EmailMessage) else "",
    ]
    return "\n".join(lines)


@dataclass
class MailSink:
    directory: Path
    counter: itertools.count[int] = field(default_factory=itertools.count)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        name = _name(self.counter)
        (self.directory / f"{name}.eml").write_bytes(raw)
        recipients = [str(address) for address in envelope.rcpt_tos]
        (self.directory / f"{name}.txt").write_text(readable_mail(raw, recipients), "utf-8")
        return "250 Message accepted for delivery"


# --- SMS ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Responder = Callable[[Request], Awaitable[tuple[int, Any]]]


async def serve_http(responder: Responder, port: int, host: str = HOST) -> asyncio.Server:
    """A small HTTP/1.1 JSON server: one request per connection, answered by ``responder``."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            status, payload = await responder(request) if request else (400, {"error": "bad"})
        except (ValueError, asyncio.IncompleteReadError) as exc:
            status, payload = 400, {"error": str(exc)}
        data = json.dumps(payload, ensure_ascii=False).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    return await asyncio.start_server(on_client, host, port)


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    line = (await reader.readline()).decode("latin-1").strip()
    if not line:
        return None
    method, path, *_ = line.split(" ")
    headers: dict[str, str] = {}
    while (header := (await reader.readline()).decode("latin-1").strip()) != "":
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length") or 0)
    body = await reader.readexactly(size) if size else b""
    return Request(method.upper(), path, headers, body)


@dataclass
class SmsSink:
    directory: Path
    counter: itertools.count[int] = field(default_factory=itertools.count)

    async def __call__(self, request: Request) -> tuple[int, Any]:
        if request.method != "POST":
            return 405, {"error": "POST JSON {to, text, reference}"}
        body = request.json()
        if not isinstance(body, dict) or not all(
            isinstance(body.get(key), str) for key in ("to", "text")
        ):
            return 400, {"error": "to and text must be strings"}
        name = _name(self.counter)
        record = {
            "id": f"sink-{name}",
            "received_at": datetime.now(UTC).isoformat(),
            "to": body["to"],
            "text": body["text"],
            "reference": body.get("reference"),
            "encoding": smsparts.encoding(body["text"]),
            "parts": smsparts.parts(body["text"]),
            "bearer": request.headers.get("authorization", "").startswith("Bearer "),
        }
        with (self.directory / "sms.jsonl").open("a", encoding="utf-8") as lines:
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
        readable = "".join(f"{key}: {record[key]}\n" for key in record if key != "text")
        (self.directory / f"{name}.txt").write_text(f"{readable}\n{body['text']}\n", "utf-8")
        return 200, {"id": record["id"]}


# --- command line ---------------------------------------------------------------------


async def run_sink(kind: str, port: int, directory: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if kind == "mail":
        server = await serve_smtp(MailSink(directory), port)
    else:
        server = await serve_http(SmsSink(directory), port)
    print(f"[sinks] {kind} sink on {HOST}:{port}, writing to {directory}", file=sys.stderr)
    await stop.wait()
    server.close()
    print(f"[sinks] {kind} sink stopped", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sinks", description=__doc__)
    parser.add_argument("kind", choices=("mail", "sms"))
    parser.add_argument("port", type=int)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    asyncio.run(run_sink(args.kind, args.port, args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
