"""How every service consumes and publishes (DESIGN.md sections 3 and 9).

``consume`` wraps a handler with the rules every queue follows: one log line per message,
manual ack only after the handler's effects are stored, malformed bodies answered and
parked in ``<queue>.dlq`` with ``x-error``, transient failures retried with backoff and
parked at the delivery limit, in-flight messages returned (never rejected) on shutdown.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.rabbit.message import RabbitMessage
from pydantic import BaseModel

from shared.clock import utc_now
from shared.contracts import routing
from shared.topology import DELIVERY_LIMIT

log = structlog.get_logger("meter.messaging")
ORIGINAL_ROUTING_KEY = "x-original-routing-key"

EXCHANGE_OBJECTS = {
    routing.COMMANDS_EXCHANGE: RabbitExchange(
        routing.COMMANDS_EXCHANGE, type=ExchangeType.DIRECT, durable=True
    ),
    routing.EVENTS_EXCHANGE: RabbitExchange(
        routing.EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True
    ),
    routing.DEAD_LETTER_EXCHANGE: RabbitExchange(
        routing.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True
    ),
}


class MalformedMessage(Exception):
    """The body cannot be read as the expected message: answered and parked."""


@dataclass(frozen=True)
class Incoming:
    """What a handler needs of an AMQP delivery, independent of the client library."""

    body: bytes
    routing_key: str
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    user_id: str | None = None
    message_type: str | None = None
    app_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    delivery_count: int = 0

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or ``MalformedMessage`` saying why not."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"body is not UTF-8 ({exc.reason})") from exc
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedMessage(f"body is not JSON ({exc.msg} at {exc.pos})") from exc
        if not isinstance(value, dict):
            raise MalformedMessage(f"body must be a JSON object, got {type(value).__name__}")
        return value


@dataclass
class Outcome:
    """A handler's result: the reply (if the sender asked for one) and log fields."""

    reply: BaseModel | dict[str, Any] | None = None
    log: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Incoming], Awaitable[Outcome]]
MalformedReply = Callable[[Incoming, str], BaseModel | dict[str, Any] | None]


def to_json(body: BaseModel | Mapping[str, Any]) -> bytes:
    if isinstance(body, BaseModel):
        return body.model_dump_json(exclude_none=True).encode()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def new_message_id() -> str:
    return str(uuid.uuid4())


class Messenger:
    """Publishes with the properties DESIGN.md section 3 requires, awaiting confirms."""

    def __init__(self, broker: RabbitBroker, app_id: str) -> None:
        self.broker = broker
        self.app_id = app_id

    async def publish(
        self,
        body: BaseModel | Mapping[str, Any] | bytes,
        *,
        exchange: str,
        routing_key: str,
        message_type: str,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        payload = body if isinstance(body, bytes) else to_json(body)
        exchange_obj = EXCHANGE_OBJECTS.get(exchange, RabbitExchange(exchange))
        await self.broker.publish(
            payload,
            exchange=exchange_obj,
            routing_key=routing_key,
            persist=True,
            content_type="application/json",
            content_encoding="utf-8",
            message_id=message_id or new_message_id(),
            correlation_id=correlation_id,
            timestamp=utc_now(),
            message_type=message_type,
            headers=dict(headers or {}),
            mandatory=exchange == "",
        )

    async def reply(self, incoming: Incoming, body: BaseModel | Mapping[str, Any]) -> None:
        """Answer a request on its ``reply_to`` with its ``correlation_id``."""
        if not incoming.reply_to:
            return
        await self.publish(
            body,
            exchange="",
            routing_key=incoming.reply_to,
            message_type=routing.reply_type(incoming.routing_key)
            if incoming.routing_key in routing.COMMANDS
            else f"{incoming.message_type or 'Message'}Reply",
            correlation_id=incoming.correlation_id or incoming.message_id,
        )

    async def park(self, raw: Any, queue: str, error: str) -> None:
        """Copy a message into ``<queue>.dlq`` with the error that parked it."""
        headers = dict(raw.headers or {})
        headers.update(
            {"x-error": error[:1000], "x-parked-from": queue, "x-parked-at": utc_now().isoformat()}
        )
        # Replays go straight to the queue; the handler still sees the original key.
        headers.setdefault(ORIGINAL_ROUTING_KEY, raw.routing_key or "")
        await self.broker.publish(
            raw.body,
            exchange=EXCHANGE_OBJECTS[routing.DEAD_LETTER_EXCHANGE],
            routing_key=queue,
            persist=True,
            content_type=raw.content_type,
            content_encoding=raw.content_encoding,
            message_id=raw.message_id,
            correlation_id=raw.correlation_id,
            reply_to=raw.reply_to,
            timestamp=raw.timestamp,
            message_type=raw.type,
            headers=headers,
        )


def incoming_from(raw: Any) -> Incoming:
    headers = dict(raw.headers or {})
    original = headers.get(ORIGINAL_ROUTING_KEY)
    if isinstance(original, bytes):
        original = original.decode()
    return Incoming(
        body=raw.body,
        routing_key=str(original or raw.routing_key or ""),
        message_id=raw.message_id,
        correlation_id=raw.correlation_id,
        reply_to=raw.reply_to,
        user_id=raw.user_id,
        message_type=raw.type,
        app_id=raw.app_id,
        headers=headers,
        delivery_count=int(headers.get("x-delivery-count") or 0),
    )


def retry_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Growing pause before a failed message goes back to its queue."""
    return float(min(cap, base * (2**attempt)))


async def consume(
    message: RabbitMessage,
    *,
    queue: str,
    handler: Handler,
    messenger: Messenger,
    malformed_reply: MalformedReply | None = None,
    retry_base: float = 0.5,
) -> None:
    """Run ``handler`` on one delivery and settle it exactly as DESIGN.md section 9 says."""
    raw = message.raw_message
    incoming = incoming_from(raw)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        queue=queue,
        message_id=incoming.message_id,
        correlation_id=incoming.correlation_id,
        message_type=incoming.message_type,
    )
    started = time.perf_counter()
    try:
        try:
            outcome = await handler(incoming)
        except MalformedMessage as exc:
            await _answer_malformed(incoming, raw, queue, str(exc), messenger, malformed_reply)
            outcome = Outcome(log={"outcome": "malformed", "parked": True, "error": str(exc)})
        else:
            if outcome.reply is not None:
                await messenger.reply(incoming, outcome.reply)
    except asyncio.CancelledError:
        # Shutdown: leave the delivery unacknowledged so the broker returns it.
        log.warning("message returned unfinished on shutdown", **_took(started))
        raise
    except Exception as exc:
        await _retry_or_park(message, raw, incoming, queue, exc, messenger, retry_base, started)
        return
    await message.ack()
    # structlog reserves "event" for the message text.
    fields = {("step" if key == "event" else key): value for key, value in outcome.log.items()}
    log.info("message processed", **fields, **_took(started))


async def _answer_malformed(
    incoming: Incoming,
    raw: Any,
    queue: str,
    error: str,
    messenger: Messenger,
    malformed_reply: MalformedReply | None,
) -> None:
    if incoming.reply_to and malformed_reply is not None:
        reply = malformed_reply(incoming, error)
        if reply is not None:
            await messenger.reply(incoming, reply)
    await messenger.park(raw, queue, f"malformed_message: {error}")


async def _retry_or_park(
    message: RabbitMessage,
    raw: Any,
    incoming: Incoming,
    queue: str,
    exc: Exception,
    messenger: Messenger,
    retry_base: float,
    started: float,
) -> None:
    error = f"{type(exc).__name__}: {exc}"
    attempt = incoming.delivery_count
    if attempt + 1 >= DELIVERY_LIMIT:
        try:
            await messenger.park(raw, queue, f"failed {attempt + 1} times; last: {error}")
        except Exception:
            log.exception("parking failed; returning the message", **_took(started))
            await message.nack(requeue=True)
            return
        await message.ack()
        log.error("message parked", outcome="failed", error=error, **_took(started))
        return
    delay = retry_delay(attempt, retry_base)
    log.warning(
        "message failed; will retry",
        outcome="retry",
        error=error,
        attempt=attempt + 1,
        retry_in_s=delay,
        **_took(started),
    )
    await asyncio.sleep(delay)
    await message.nack(requeue=True)


def _took(started: float) -> dict[str, float]:
    return {"duration_ms": round((time.perf_counter() - started) * 1000, 2)}
