"""The notifier's HTTP/1.1 client (``http11.Origin``) against small real servers on loopback:
kept connections, answers framed every way HTTP allows, servers that close, hang or answer
nonsense, TLS with a CA of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.notifier.adapters.http11 import HttpFailure, Origin, TimedOut, Unreachable
from services.notifier.adapters.sms import HttpSmsGateway
from services.notifier.domain.providers import DeliveryFailed, Sms
from tests.security.tls_node import make_certificates

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id":"g1"}'


@dataclass
class Seen:
    """What the server saw: the head and body of each request, by connection."""

    connections: int = 0
    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    closed_by_client: int = 0


Answerer = Callable[[int, bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]


async def answer_ok(_: int, __: bytes, ___: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True  # keep the connection


def late(seconds: float, only: int | None = None) -> Answerer:
    """Answers after ``seconds`` on connection number ``only`` (on every one if None)."""

    async def answer(number: int, _: bytes, __: bytes, writer: asyncio.StreamWriter) -> bool:
        if only is None or number == only:
            await asyncio.sleep(seconds)
        writer.write(OK)
        return True

    return answer


@contextlib.asynccontextmanager
async def server(
    answer: Answerer = answer_ok, tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[int, Seen]]:
    seen = Seen()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        number = seen.connections
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                seen.requests.append((number, head, body))
                if not await answer(number, head, body, writer):
                    break
                await writer.drain()
        if reader.at_eof():
            seen.closed_by_client += 1
        writer.close()

    listening = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=tls)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield port, seen
    finally:
        listening.close()


async def test_requests_share_one_kept_connection_and_carry_host_length_and_headers() -> None:
    async with server() as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/send?key=1", connections=4)
        first = await origin.post(b'{"a":1}', [("Authorization", "Bearer t")])
        second = await origin.post(b'{"a":22}')
        await origin.aclose()
        await asyncio.sleep(0.05)
    assert (first.status, first.body) == (200, b'{"id":"g1"}')
    assert second.status == 200
    assert seen.connections == 1
    assert [body for _, _, body in seen.requests] == [b'{"a":1}', b'{"a":22}']
    head = seen.requests[0][1].decode()
    assert head.startswith("POST /send?key=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{port}" in head.lower()
    assert "content-length: 7" in head.lower()
    assert "Authorization: Bearer t" in head
    assert seen.closed_by_client == 1  # aclose closed the kept connection


async def test_concurrent_requests_open_at_most_the_connections_allowed() -> None:
    async with server(late(0.05)) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/", connections=3)
        answers = await asyncio.gather(*(origin.post(b"{}") for _ in range(12)))
        await origin.aclose()
    assert [answer.status for answer in answers] == [200] * 12
    assert seen.connections == 3


async def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    async def chunked(_: int, __: bytes, ___: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5\r\n{"id"\r\n6\r\n:"c1"}\r\n0\r\n\r\n'
        )
        return True

    async with server(chunked) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/")
        answers = [await origin.post(b"{}"), await origin.post(b"{}")]
        await origin.aclose()
    assert [answer.body for answer in answers] == [b'{"id":"c1"}'] * 2
    assert seen.connections == 1


async def test_an_answer_closing_the_connection_is_read_and_the_next_request_connects_anew() -> (
    None
):
    async def until_close(_: int, __: bytes, ___: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\n{"id":"u"}')
        return False  # the body ends where the connection does

    async with server(until_close) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/")
        answers = [await origin.post(b"{}"), await origin.post(b"{}")]
        await origin.aclose()
    assert [(answer.status, answer.body) for answer in answers] == [(202, b'{"id":"u"}')] * 2
    assert seen.connections == 2


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def once(_: int, __: bytes, ___: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(OK)  # says nothing of closing, then closes: an idle time-out
        return False

    async with server(once) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/")
        await origin.post(b"{}")
        await asyncio.sleep(0.1)  # the server's close arrives
        answer = await origin.post(b"{}")
        await origin.aclose()
    assert answer.status == 200
    assert seen.connections == 2
    assert len(seen.requests) == 2  # nothing was sent on the closed connection


async def test_a_connection_idle_longer_than_keep_idle_is_closed_not_reused() -> None:
    async with server() as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/", keep_idle=0.05)
        await origin.post(b"{}")
        await asyncio.sleep(0.1)
        await origin.post(b"{}")
        await origin.aclose()
    assert seen.connections == 2


async def test_no_answer_in_time_is_a_time_out_and_the_connection_is_dropped() -> None:
    async with server(late(1.0, only=1)) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/", answer_timeout=0.1)
        with pytest.raises(TimedOut, match=r"no answer within 0\.1 s") as failed:
            await origin.post(b"{}")
        assert failed.value.phase == "answer"
        answer = await origin.post(b"{}")  # on a new connection: the late answer is not read
        await origin.aclose()
    assert answer.body == b'{"id":"g1"}'
    assert seen.connections == 2


async def test_waiting_for_a_free_connection_is_bounded_by_the_timeout() -> None:
    async with server(late(0.5)) as (port, _):
        origin = Origin(f"http://127.0.0.1:{port}/", connections=1, timeout=0.1)
        busy = asyncio.create_task(origin.post(b"{}"))
        await asyncio.sleep(0.02)
        with pytest.raises(TimedOut) as failed:
            await origin.post(b"{}")
        assert failed.value.phase == "free connection"
        assert (await busy).status == 200
        await origin.aclose()


async def test_a_cancelled_request_gives_back_its_slot_and_closes_its_connection() -> None:
    async with server(late(1.0, only=1)) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/", connections=1, timeout=0.5)
        waiting = asyncio.create_task(origin.post(b"{}"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        answer = await origin.post(b"{}")
        await origin.aclose()
    assert answer.status == 200
    assert seen.connections == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"SMTP 220 hello\r\n\r\n", "not an HTTP answer"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"id"', "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + b"x" * 2000, "longer than 1000"),
        (b"", "not an HTTP answer"),
    ],
    ids=["not-http", "cut-short", "too-long", "closed-without-answer"],
)
async def test_a_broken_answer_is_unreachable_and_closes_the_connection(
    reply: bytes, message: str
) -> None:
    async def broken(_: int, __: bytes, ___: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(reply)
        return False

    async with server(broken) as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/", max_answer_bytes=1000)
        with pytest.raises(Unreachable, match=message):
            await origin.post(b"{}")
        with pytest.raises(Unreachable):
            await origin.post(b"{}")
        await origin.aclose()
    assert seen.connections == 2  # nothing kept from the broken exchange


async def test_a_closed_port_is_unreachable() -> None:
    async with server() as (port, _):
        pass  # the port is free again
    origin = Origin(f"http://127.0.0.1:{port}/")
    with pytest.raises(Unreachable, match="cannot connect: ConnectionRefusedError"):
        await origin.post(b"{}")


async def test_a_header_http_cannot_carry_is_refused_before_anything_is_sent() -> None:
    async with server() as (port, seen):
        origin = Origin(f"http://127.0.0.1:{port}/")
        with pytest.raises(HttpFailure, match="request not sent"):
            await origin.post(b"{}", [("Authorization", "Bearer a\nX-Injected: 1")])
        answer = await origin.post(b"{}")
        await origin.aclose()
    assert answer.status == 200
    assert len(seen.requests) == 1
    assert b"X-Injected" not in seen.requests[0][1]


def test_only_http_and_https_urls_are_taken() -> None:
    for url in ("ftp://gateway/", "gateway.example/sms", "http:///sms"):
        with pytest.raises(ValueError, match="not an http:// or https:// URL"):
            Origin(url)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make certificates")
async def test_https_verifies_the_gateway_against_the_given_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_certificates(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    async with server(tls=served) as (port, seen):
        strange = Origin(f"https://localhost:{port}/sms")  # the system's CAs only
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await strange.post(b"{}")
        given = Origin(
            f"https://localhost:{port}/sms",
            ssl_context=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")),
        )
        answers = [await given.post(b"{}"), await given.post(b"{}")]
        await given.aclose()
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # as docs/integration.md
        by_environment = Origin(f"https://localhost:{port}/sms")
        answers.append(await by_environment.post(b"{}"))
        await by_environment.aclose()
    assert [answer.status for answer in answers] == [200, 200, 200]
    assert seen.connections == 2  # one kept for two requests, one more (refused ones never got
    assert len(seen.requests) == 3  # to HTTP)


async def test_the_sms_gateway_maps_failures_to_retryable_deliveries() -> None:
    async with server() as (port, _):
        pass
    gateway = HttpSmsGateway(url=f"http://127.0.0.1:{port}/sms")
    with pytest.raises(DeliveryFailed, match="gateway unreachable: cannot connect") as failed:
        await gateway.send(Sms("+994501234567", "Salam", "ref-1"))
    assert failed.value.permanent is False
    await gateway.aclose()


# --- through a proxy -----------------------------------------------------------------------


async def test_an_http_gateway_is_reached_through_a_forward_proxy_with_its_credentials() -> None:
    async with server() as (port, seen):  # the proxy: it sees what a forward proxy is sent
        origin = Origin(
            "http://gateway.example:8080/sms?x=1", proxy=f"http://meter:p%40ss@127.0.0.1:{port}"
        )
        answers = [await origin.post(b'{"a":1}'), await origin.post(b'{"a":2}')]
        await origin.aclose()
    assert [answer.status for answer in answers] == [200, 200]
    assert seen.connections == 1  # the connection to the proxy is kept
    head = seen.requests[0][1].decode()
    assert head.startswith("POST http://gateway.example:8080/sms?x=1 HTTP/1.1\r\n")
    assert "host: gateway.example:8080" in head.lower()
    assert "Proxy-Authorization: Basic bWV0ZXI6cEBzcw==" in head  # meter:p@ss


async def test_the_sms_gateway_goes_through_its_proxy() -> None:
    async with server() as (port, seen):
        gateway = HttpSmsGateway(
            url="http://sms.example/send", proxy=f"http://127.0.0.1:{port}", token="t"
        )
        assert await gateway.send(Sms("+994501234567", "Salam", "ref-1")) == "g1"
        await gateway.aclose()
    head = seen.requests[0][1].decode()
    assert head.startswith("POST http://sms.example/send HTTP/1.1\r\n")
    assert "Authorization: Bearer t" in head


@contextlib.asynccontextmanager
async def tunnelling_proxy(answer: bytes = b"") -> AsyncIterator[tuple[int, list[bytes]]]:
    """A proxy that opens the tunnel each ``CONNECT`` asks for (or answers ``answer``
    instead), then carries bytes both ways; the heads of the ``CONNECT`` requests."""
    heads: list[bytes] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        heads.append(head)
        if answer:
            writer.write(answer)
            writer.close()
            return
        host, _, target_port = head.split(b" ")[1].decode().rpartition(":")
        to_reader, to_writer = await asyncio.open_connection(host, int(target_port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(pipe(reader, to_writer), pipe(to_reader, writer))

    listening = await asyncio.start_server(on_client, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1], heads
    finally:
        listening.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl to make certificates")
async def test_an_https_gateway_is_reached_through_a_tunnel_with_tls_to_the_gateway(
    tmp_path: Path,
) -> None:
    make_certificates(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    async with server(tls=served) as (port, seen), tunnelling_proxy() as (proxy_port, heads):
        origin = Origin(
            f"https://localhost:{port}/sms",
            ssl_context=trusted,
            proxy=f"http://meter:secret@127.0.0.1:{proxy_port}",
        )
        answers = [await origin.post(b"{}"), await origin.post(b"{}")]
        await origin.aclose()
    assert [answer.status for answer in answers] == [200, 200]
    assert len(heads) == 1  # one tunnel, kept for both
    assert heads[0].startswith(f"CONNECT localhost:{port} HTTP/1.1\r\n".encode())
    assert b"Proxy-Authorization: Basic bWV0ZXI6c2VjcmV0" in heads[0]  # meter:secret
    # TLS went end to end: the gateway saw the requests in clear, the proxy only their bytes.
    assert seen.requests[0][1].startswith(b"POST /sms HTTP/1.1\r\n")
    assert b"Proxy-Authorization" not in seen.requests[0][1]


async def test_a_tunnel_the_proxy_refuses_is_unreachable_with_its_answer() -> None:
    refusal = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
    async with tunnelling_proxy(answer=refusal) as (proxy_port, heads):
        origin = Origin("https://sms.example/send", proxy=f"http://127.0.0.1:{proxy_port}")
        with pytest.raises(Unreachable, match=r"refused a tunnel to sms.example:443: 407 Proxy"):
            await origin.post(b"{}")
        await origin.aclose()
        by_address = Origin(
            "https://[2001:db8::7]:8443/send", proxy=f"http://127.0.0.1:{proxy_port}"
        )
        with pytest.raises(Unreachable, match=r"refused a tunnel to \[2001:db8::7\]:8443"):
            await by_address.post(b"{}")
        await by_address.aclose()
    assert len(heads) == 2
    assert heads[1].startswith(b"CONNECT [2001:db8::7]:8443 HTTP/1.1\r\n")


def test_a_proxy_url_is_refused_without_repeating_its_password() -> None:
    for url in ("https://meter:secret@proxy:3128", "socks5://meter:secret@proxy:1080"):
        with pytest.raises(ValueError, match="not an http://") as refused:
            Origin("http://gateway.example/sms", proxy=url)
        assert "secret" not in str(refused.value)
