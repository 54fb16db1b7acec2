"""What handlers see of a message and how every service publishes (DESIGN.md section 3).

``Incoming`` is a delivery as a handler needs it, ``Outcome`` what a handler returns,
``Messenger`` publishes with the properties the contract requires (persistent, JSON,
``message_id``, ``timestamp``, ``type``, ``app_id``), answers requests and parks messages.
The rules around a handler live in ``shared.consuming``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from pydantic import BaseModel

from shared.clock import utc_now
from shared.contracts import routing

log = structlog.get_logger("meter.messaging")
ORIGINAL_ROUTING_KEY = "x-original-routing-key"
ORIGINAL_USER_ID = "x-original-user-id"
ORIGINAL_APP_ID = "x-original-app-id"

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
        # Contract fields that are null stay in the body (``installed_on: null``).
        return body.model_dump_json().encode()
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
        # The copy is published by this service; a replay restores who sent the original.
        if raw.user_id:
            headers.setdefault(ORIGINAL_USER_ID, raw.user_id)
        if raw.app_id:
            headers.setdefault(ORIGINAL_APP_ID, raw.app_id)
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
