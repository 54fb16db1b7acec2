"""Development sinks for ``make run``: what would have been sent, written under ``var/``.

    python -m devtools.sinks mail PORT DIR   an SMTP server; each e-mail is DIR/<name>.eml
                                             plus DIR/<name>.txt with the decoded text and
                                             each attachment as DIR/<name>-<file name>
    python -m devtools.sinks sms PORT DIR    the SMS gateway contract (POST JSON {to, text,
                                             reference}, bearer optional, answers 200
                                             {"id"}); each SMS is a line of DIR/sms.jsonl
                                             plus DIR/<name>.txt

Both listen on 127.0.0.1 and stop on SIGTERM or SIGINT. ``--delay-file FILE`` makes a sink
slow on demand (the fault suite, ``python -m faults``): after storing each message it waits
the seconds written in FILE (read per message; missing, empty or 0: no wait) before it
answers, as a provider that accepted a message but answers late. ``serve_smtp`` and
``serve_http`` are also what the notifier's tests stand their SMTP server and gateway on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from services.notifier.domain import smsparts

HOST = "127.0.0.1"


def no_pause() -> float:
    return 0.0


def pause_from(path: Path | None) -> Callable[[], float]:
    """The answer delay written in ``path`` (seconds), read anew for each message."""

    def seconds() -> float:
        try:
            return max(0.0, float(path.read_text().strip() or 0)) if path else 0.0
        except (OSError, ValueError):
            return 0.0

    return seconds


async def _answer_later(pause: Callable[[], float]) -> None:
    if (seconds := pause()) > 0:
        await asyncio.sleep(seconds)


def _name(counter: itertools.count[int]) -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + f"-{next(counter):04d}"


# --- e-mail ---------------------------------------------------------------------------


async def serve_smtp(handler: Any, port: int, host: str = HOST) -> asyncio.Server:
    """An aiosmtpd SMTP server in this event loop; ``handler`` has aiosmtpd's hooks."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="sink.local"), host, port
    )


def parsed(raw: bytes) -> Message:
    """The e-mail as the classic (compat32) parser reads it: headers kept as written until
    one is asked for (``header``), several times cheaper than the modern policy, which
    parses every header it meets."""
    return BytesParser().parsebytes(raw)


def header(message: Message, name: str) -> str:
    """A header as a person reads it: unfolded, encoded words decoded, raw UTF-8 (an
    SMTPUTF8 message) read as UTF-8; "" when it is missing."""
    # As stored: ``get`` would turn raw UTF-8 into replacement characters.
    value = next((v for key, v in message.raw_items() if key.lower() == name.lower()), None)
    if value is None:
        return ""
    text = _utf8(re.sub(r"\r?\n(?=[ \t])", "", str(value)))
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeError, LookupError, HeaderParseError):
        return text


def _utf8(text: str) -> str:
    """Raw UTF-8 the parser kept as escaped bytes, as the characters they are."""
    try:
        return text.encode("ascii", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return text


def _filename(part: Message) -> str:
    """The attachment's file name, raw UTF-8 in its header read as UTF-8 (``get_filename``
    on the part itself would see replacement characters)."""
    holder = Message()
    for key, value in part.raw_items():
        if key.lower() in ("content-disposition", "content-type"):
            holder[key] = _utf8(str(value))
    return holder.get_filename() or ""


def _is_attachment(part: Message) -> bool:
    return part.get_content_disposition() == "attachment"


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        return data.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")


def save_attachments(message: Message, directory: Path, name: str) -> list[str]:
    """Each attachment of the e-mail (the act's PDF) as DIR/<name>-<its file name>, next to
    the .eml so a reader of the directory finds it; the names written."""
    written: list[str] = []
    attachments = [part for part in message.walk() if _is_attachment(part)]
    for index, part in enumerate(attachments):
        given = _filename(part)
        with contextlib.suppress(UnicodeError, LookupError, HeaderParseError):
            given = str(make_header(decode_header(given)))  # an RFC 2047 name, as some send
        # The sender chose the name: keep it inside DIR and free of odd characters.
        filename = re.sub(r"[^\w.-]", "_", Path(given).name).strip(".")
        target = directory / f"{name}-{filename or index}"
        data = part.get_payload(decode=True)  # the bytes, whatever the transfer encoding
        target.write_bytes(data if isinstance(data, bytes) else b"")
        written.append(target.name)
    return written


def readable_mail(message: Message, recipients: list[str], files: list[str] | None = None) -> str:
    """The e-mail as a person reads it: decoded headers and the plain-text part (the HTML
    one when there is none), and the files its attachments were saved as."""
    leaves = [part for part in message.walk() if not part.is_multipart()]
    body = ""
    for kind in ("text/plain", "text/html"):
        found = [p for p in leaves if p.get_content_type() == kind and not _is_attachment(p)]
        if found:
            body = _text_of(found[0])
            break
    lines = [
        f"From: {header(message, 'From')}",
        f"To: {', '.join(recipients)}",
        f"Subject: {header(message, 'Subject')}",
        f"Date: {header(message, 'Date')}",
        f"Message-ID: {header(message, 'Message-ID')}",
        f"Parts: {', '.join(part.get_content_type() for part in leaves)}",
        *([f"Files: {', '.join(files)}"] if files else []),
        "",
        body,
    ]
    return "\n".join(lines)


@dataclass
class MailSink:
    directory: Path
    counter: itertools.count[int] = field(default_factory=itertools.count)
    pause: Callable[[], float] = no_pause  # seconds to wait before answering (stored already)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        name = _name(self.counter)
        (self.directory / f"{name}.eml").write_bytes(raw)
        recipients = [str(address) for address in envelope.rcpt_tos]
        message = parsed(raw)  # once, for the attachments and the readable copy
        files = save_attachments(message, self.directory, name)
        readable = readable_mail(message, recipients, files)
        (self.directory / f"{name}.txt").write_text(readable, "utf-8")
        await _answer_later(self.pause)
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
    """A small HTTP/1.1 JSON server answered by ``responder``; a connection stays open for
    the next request (as a gateway's does) until the client closes it or a request is bad."""

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keep = True
        with contextlib.suppress(ConnectionError):
            while keep:
                request = None
                try:
                    request = await _read_request(reader)
                    if request is None and reader.at_eof():
                        break  # the client is done with the connection
                    status, payload = (
                        await responder(request) if request else (400, {"error": "bad"})
                    )
                except (ValueError, asyncio.IncompleteReadError) as exc:
                    status, payload = 400, {"error": str(exc)}
                wanted = request is not None and request.headers.get("connection") != "close"
                keep = wanted and status != 400
                data = json.dumps(payload, ensure_ascii=False).encode()
                head = (
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                    "Content-Type: application/json; charset=utf-8\r\n"
                    f"Content-Length: {len(data)}\r\n"
                    f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n"
                )
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
    pause: Callable[[], float] = no_pause  # seconds to wait before answering (stored already)

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
        await _answer_later(self.pause)
        return 200, {"id": record["id"]}


# --- command line ---------------------------------------------------------------------


async def run_sink(kind: str, port: int, directory: Path, delay_file: Path | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    pause = pause_from(delay_file)
    if kind == "mail":
        server = await serve_smtp(MailSink(directory, pause=pause), port)
    else:
        server = await serve_http(SmsSink(directory, pause=pause), port)
    print(f"[sinks] {kind} sink on {HOST}:{port}, writing to {directory}", file=sys.stderr)
    await stop.wait()
    server.close()
    print(f"[sinks] {kind} sink stopped", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.sinks", description=__doc__)
    parser.add_argument("kind", choices=("mail", "sms"))
    parser.add_argument("port", type=int)
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--delay-file", type=Path, help="seconds to wait before answering, read per message"
    )
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    asyncio.run(run_sink(args.kind, args.port, args.directory, args.delay_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
