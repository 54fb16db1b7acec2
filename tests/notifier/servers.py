"""The notifier's counterparts, real and local: an SMTP server and an SMS gateway.

Both run in the test's event loop on a 127.0.0.1 port and can be stopped (connections
refused) and started again on the same port.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from devtools.sinks import Request, serve_http, serve_smtp


async def wait_until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert isinstance(part, EmailMessage)
        return str(part.get_content())


@dataclass
class InFlight:
    """Counts the requests a server is handling at once, and the most there ever were."""

    now: int = 0
    most: int = 0

    async def hold(self, seconds: float) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(seconds)
        finally:
            self.now -= 1


@dataclass
class SmtpServer:
    """aiosmtpd, keeping every message; recipients in ``refuse`` get 550.

    ``data_delay``: seconds it takes to answer the end of data (the message is kept first,
    as a server that accepted it but answers late); ``rcpt_delay`` the same for RCPT.
    ``sessions`` counts the connections messages came over.
    """

    port: int
    received: list[ReceivedMail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    recipients_tried: list[str] = field(default_factory=list)
    data_delay: float = 0.0
    rcpt_delay: float = 0.0
    in_flight: InFlight = field(default_factory=InFlight)
    sessions: set[int] = field(default_factory=set)
    connections: list[Any] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await serve_smtp(self, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        self.recipients_tried.append(address)
        if id(session) not in self.sessions:
            self.sessions.add(id(session))
            self.connections.append(server)
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        )
        await self.in_flight.hold(self.data_delay)
        return "250 OK"

    def to(self, address: str) -> list[ReceivedMail]:
        return [mail for mail in self.received if address in mail.recipients]

    def drop_connections(self) -> None:
        """Close every connection a message came over, as a server's idle time-out does."""
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()


@dataclass
class Gateway:
    """The SMS gateway contract: 200 ``{"id"}``; 400 for ``reject``; ``failing`` status."""

    port: int
    requests: list[Request] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    failing: int | None = None
    delay: float = 0.0  # seconds before each answer
    in_flight: InFlight = field(default_factory=InFlight)
    server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await serve_http(self, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def __call__(self, request: Request) -> tuple[int, Any]:
        self.requests.append(request)
        await self.in_flight.hold(self.delay)
        body = request.json()
        if body["to"] in self.reject:
            return 400, {"error": "invalid destination number"}
        if self.failing is not None:
            return self.failing, {"error": "try again later"}
        self.accepted.append(body)
        return 200, {"id": f"gw-{len(self.accepted)}"}

    def to(self, phone: str) -> list[dict[str, Any]]:
        return [body for body in self.accepted if body["to"] == phone]

    def tried(self, phone: str) -> int:
        return sum(1 for request in self.requests if request.json()["to"] == phone)
