"""A small HTTP/1.1 client for one origin: asyncio streams, the ``h11`` protocol machine.

The SMS gateway is one URL that the notifier POSTs a small JSON body to, many times a
second. A general client (httpx over httpcore and anyio) spent about 1.2 ms of CPU per
request on this machine, most of it in layers this one request shape does not need; this
one spends about 0.3 ms (docs/performance.md). ``h11`` does the protocol (framing,
chunked answers, keep-alive, a server closing the connection), this module the rest:

- connections kept open for the next request, at most ``connections`` at once; one idle
  longer than ``keep_idle`` seconds, or closed by the server meanwhile, is not reused;
- a free connection is waited for, connecting and sending are each done, within
  ``timeout``; the answer to a sent request is awaited ``answer_timeout``;
- ``https://`` verifies the server's certificate and host name against the system's
  trusted CAs (``SSL_CERT_FILE``/``SSL_CERT_DIR`` name others), or ``ssl_context``;
- any failure closes the connection it happened on: the next request opens a new one;
- through an ``http://`` forward ``proxy`` when one is given (``http://[user:password@]host:port``;
  its credentials go in ``Proxy-Authorization``): an ``http://`` origin's requests go to the
  proxy with the whole URL as their target, an ``https://`` origin is reached through a
  ``CONNECT`` tunnel, with TLS end to end to the origin (the proxy sees no content).

Failures are ``TimedOut`` (with the phase: ``free connection``, ``connection``, ``send`` or
``answer``), ``Unreachable`` (no connection, a broken one, a tunnel the proxy refused, an
answer that is not HTTP or too long), or ``HttpFailure`` (a header value HTTP cannot carry:
nothing was sent).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import h11

MAX_ANSWER_BYTES = 1 << 20
_READ_SIZE = 65536


class HttpFailure(Exception):
    """The request has no answer: why, in words an operator can act on."""


class TimedOut(HttpFailure):
    def __init__(self, phase: str, seconds: float) -> None:
        super().__init__(f"no {phase} within {seconds:g} s")
        self.phase = phase


class Unreachable(HttpFailure):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


@dataclass(frozen=True)
class Proxy:
    """An ``http://`` forward proxy: where it listens, and the header its credentials make."""

    host: str
    port: int
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # credentials

    @classmethod
    def parse(cls, url: str) -> Proxy:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            # Not the URL itself in the message: it may hold a password.
            raise ValueError("the proxy is not an http://[user:password@]host:port URL")
        headers: tuple[tuple[str, str], ...] = ()
        if parts.username is not None:
            secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            token = base64.b64encode(secret.encode()).decode("ascii")
            headers = (("Proxy-Authorization", f"Basic {token}"),)
        return cls(parts.hostname, parts.port or 80, headers)


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))
    idle_since: float = 0.0

    def usable(self, now: float, keep_idle: float) -> bool:
        """Still open at both ends and not idle so long that the server may be closing it."""
        return (
            now - self.idle_since < keep_idle
            and not self.writer.is_closing()
            and not self.reader.at_eof()
        )

    def close(self) -> None:
        self.writer.close()


class Origin:
    """Requests to one ``http://`` or ``https://`` URL over a pool of kept connections."""

    def __init__(
        self,
        url: str,
        *,
        connections: int = 16,
        timeout: float = 10.0,
        answer_timeout: float = 600.0,
        keep_idle: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        proxy: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.authority = parts.netloc.rpartition("@")[2]  # the Host header: no user or password
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.tls = (
            (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        )
        self.proxy = Proxy.parse(proxy) if proxy else None
        if self.proxy is not None and self.tls is None:
            # A forward proxy takes the whole URL as the target, and its own credentials.
            self.target = f"http://{self.authority}{self.target}"
        self.timeout, self.answer_timeout, self.keep_idle = timeout, answer_timeout, keep_idle
        self.max_answer_bytes = max_answer_bytes
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []

    @property
    def kept(self) -> int:
        """Connections open and idle, kept for the next request."""
        return len(self._idle)

    async def post(self, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> Answer:
        try:
            async with asyncio.timeout(self.timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise TimedOut("free connection", self.timeout) from None
        try:
            connection = self._kept() or await self._connect()
            try:
                answer = await self._exchange(connection, body, headers)
            except BaseException:
                connection.close()
                raise
            self._keep_or_close(connection)
            return answer
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            with contextlib.suppress(OSError):  # a connection the server broke: closed anyway
                await connection.writer.wait_closed()

    def _kept(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now, self.keep_idle):
                return connection
            connection.close()
        return None

    def _keep_or_close(self, connection: _Connection) -> None:
        protocol = connection.protocol
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:  # the server asked to close, or the exchange did not finish cleanly
            connection.close()

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.timeout):
                if self.proxy is None:
                    reader, writer = await asyncio.open_connection(
                        self.host,
                        self.port,
                        ssl=self.tls,
                        server_hostname=self.host if self.tls else None,
                        limit=_READ_SIZE,
                    )
                else:
                    reader, writer = await self._through_proxy(self.proxy)
        except TimeoutError:
            raise TimedOut("connection", self.timeout) from None
        except OSError as exc:  # refused, unreachable, name unknown, certificate refused
            raise Unreachable(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        return _Connection(reader, writer)

    async def _through_proxy(
        self, proxy: Proxy
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(proxy.host, proxy.port, limit=_READ_SIZE)
        if self.tls is None:
            return reader, writer
        try:
            await self._tunnel(proxy, reader, writer)
            await writer.start_tls(self.tls, server_hostname=self.host)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _tunnel(
        self, proxy: Proxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Ask the proxy for a tunnel to the origin (``CONNECT``); its answer must be 2xx."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        authority = f"{host}:{self.port}"
        protocol = h11.Connection(h11.CLIENT)
        request = h11.Request(
            method="CONNECT", target=authority, headers=[("Host", authority), *proxy.headers]
        )
        writer.write(protocol.send(request) or b"")
        await writer.drain()
        try:
            while True:
                event = protocol.next_event()
                if event is h11.NEED_DATA:
                    protocol.receive_data(await reader.read(_READ_SIZE))
                elif isinstance(event, h11.Response):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise Unreachable("the proxy closed the connection instead of a tunnel")
        except h11.RemoteProtocolError as exc:
            raise Unreachable(f"the proxy's answer is not HTTP: {exc}") from exc
        if not 200 <= event.status_code < 300:
            reason = event.reason.decode("latin-1", errors="replace")
            raise Unreachable(
                f"the proxy refused a tunnel to {authority}: {event.status_code} {reason}"
            )
        if protocol.trailing_data[0]:  # the origin cannot have spoken before TLS began
            raise Unreachable("the proxy sent data after its tunnel answer")

    async def _exchange(
        self, connection: _Connection, body: bytes, headers: Sequence[tuple[str, str]]
    ) -> Answer:
        protocol = connection.protocol
        try:
            forwarded = self.proxy.headers if self.proxy is not None and self.tls is None else ()
            request = h11.Request(
                method="POST",
                target=self.target,
                headers=[
                    ("Host", self.authority),
                    ("Content-Length", str(len(body))),
                    *forwarded,
                    *headers,
                ],
            )
            data = b"".join(
                (
                    protocol.send(request) or b"",
                    protocol.send(h11.Data(data=body)) or b"",
                    protocol.send(h11.EndOfMessage()) or b"",
                )
            )
            try:
                connection.writer.write(data)
                async with asyncio.timeout(self.timeout):
                    await connection.writer.drain()
            except TimeoutError:
                raise TimedOut("send", self.timeout) from None
            try:
                async with asyncio.timeout(self.answer_timeout):
                    return await self._answer(connection)
            except TimeoutError:
                raise TimedOut("answer", self.answer_timeout) from None
        except h11.RemoteProtocolError as exc:
            raise Unreachable(f"not an HTTP answer: {exc}") from exc
        except h11.LocalProtocolError as exc:  # a header value HTTP cannot carry
            raise HttpFailure(f"request not sent: {exc}") from exc
        except OSError as exc:  # reset, broken pipe
            raise Unreachable(f"connection broken: {type(exc).__name__}: {exc}") from exc

    async def _answer(self, connection: _Connection) -> Answer:
        protocol, status, chunks, size = connection.protocol, 0, [], 0
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await connection.reader.read(_READ_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_answer_bytes:
                    raise Unreachable(f"answer longer than {self.max_answer_bytes} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise Unreachable("connection closed before the answer ended")
            # an informational answer (1xx) comes before the real one: read on
