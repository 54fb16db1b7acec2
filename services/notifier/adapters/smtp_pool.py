"""SMTP connections kept open and reused, and the RFC 5321 wait for the end of data.

``PatientSMTP`` gives every command ``timeout`` seconds but waits ``data_timeout`` seconds
(RFC 5321 section 4.5.3.2: 10 minutes) for the reply to the end of the message's data: a
server may take that long to accept a message, and giving up earlier means sending it
twice. ``SmtpPool`` lends at most ``size`` connections, each used for one message at a time
and kept for the next; a connection that failed, idled too long or carried ``reuse_limit``
messages is replaced. A kept connection the server closed meanwhile is replaced once before
anything of the message went out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from typing import Any, Literal

import aiosmtplib
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.typing import Default


class PatientSMTP(aiosmtplib.SMTP):
    def __init__(self, *, data_timeout: float, **options: Any) -> None:
        super().__init__(**options)
        self.data_timeout = data_timeout
        self.handed_over = False  # data of the current message began to go out
        self.sent = 0
        self.idle_since = time.monotonic()

    async def data(
        self,
        message: str | bytes,
        /,
        *,
        timeout: float | Literal[Default.token] | None = Default.token,  # noqa: ASYNC109
    ) -> aiosmtplib.SMTPResponse:
        """DATA answered within ``timeout``; the end of data within ``data_timeout``."""
        if isinstance(message, str):
            message = message.encode("ascii")
        start = await self.execute_command(b"DATA", timeout=timeout)
        if start.code != aiosmtplib.SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        protocol = self.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        body = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"
        self.handed_over = True
        try:
            protocol.write(body)
            response = await protocol.read_response(timeout=self.data_timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            self.close()  # out of step with the server: never reused
            raise
        if response.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        return response


class PoolExhausted(Exception):
    """No connection came free within the time-out (every one is busy with a message)."""


class SmtpPool:
    def __init__(
        self,
        connect: Callable[[], Awaitable[PatientSMTP]],
        *,
        size: int = 4,
        acquire_timeout: float = 15.0,
        idle_limit: float = 60.0,
        reuse_limit: int = 100,
    ) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)
        self._idle: list[PatientSMTP] = []
        self.acquire_timeout = acquire_timeout
        self.idle_limit, self.reuse_limit = idle_limit, reuse_limit
        self.opened = 0  # connections made so far (tests and measurements read it)

    async def send(self, message: Message, **options: Any) -> None:
        """Send ``message`` over a pooled connection (``options`` go to ``send_message``)."""
        try:
            async with asyncio.timeout(self.acquire_timeout):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise PoolExhausted(f"no SMTP connection free within {self.acquire_timeout}s") from exc
        try:
            connection, reused = await self._take()
            try:
                await self._send_on(connection, message, options)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                if not reused or connection.handed_over:
                    raise
                # The server closed a kept connection while it idled: nothing went out yet.
                connection = await self._open()
                await self._send_on(connection, message, options)
        finally:
            self._slots.release()

    async def _send_on(
        self, connection: PatientSMTP, message: Message, options: dict[str, Any]
    ) -> None:
        connection.handed_over = False
        try:
            await connection.send_message(message, **options)
        except aiosmtplib.SMTPException:
            # Refused and reset: kept. Timed out or disconnected: already closed, dropped.
            self._keep(connection)
            raise
        except BaseException:
            connection.close()
            raise
        connection.sent += 1
        self._keep(connection)

    async def _take(self) -> tuple[PatientSMTP, bool]:
        while self._idle:
            connection = self._idle.pop()
            idle = time.monotonic() - connection.idle_since
            if connection.is_connected and idle < self.idle_limit:
                return connection, True
            connection.close()
        return await self._open(), False

    async def _open(self) -> PatientSMTP:
        connection = await self._connect()
        self.opened += 1
        return connection

    def _keep(self, connection: PatientSMTP) -> None:
        if connection.is_connected and connection.sent < self.reuse_limit:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        """Say goodbye on every kept connection (shutdown)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.quit(timeout=2.0)
            connection.close()
