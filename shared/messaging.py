"""How every service publishes, answers and parks (the message properties of the contract).

``Messenger`` publishes with the properties every message carries (persistent, JSON,
``message_id``, ``timestamp``, ``type``, ``app_id``), answers requests on their
``reply_to`` and parks messages in ``<queue>.dlq``. ``delivery_from`` reads an AMQP
delivery's properties defensively: no header a sender sets can break it.
The rules around a handler live in ``shared.consuming``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from pydantic import BaseModel

from shared.clock import utc_now
from shared.contracts.reading import MalformedMessage
from shared.contracts.registry import (
    COMMANDS,
    COMMANDS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    reply_type,
)
from shared.delivery import Delivery, Outcome, new_message_id

__all__ = [
    "ORIGINAL_APP_ID",
    "ORIGINAL_ROUTING_KEY",
    "ORIGINAL_USER_ID",
    "Delivery",
    "MalformedMessage",
    "Messenger",
    "Outcome",
    "delivery_from",
    "new_message_id",
    "to_json",
]

log = structlog.get_logger("meter.messaging")
ORIGINAL_ROUTING_KEY = "x-original-routing-key"
ORIGINAL_USER_ID = "x-original-user-id"
ORIGINAL_APP_ID = "x-original-app-id"

EXCHANGE_OBJECTS = {
    COMMANDS_EXCHANGE: RabbitExchange(COMMANDS_EXCHANGE, type=ExchangeType.DIRECT, durable=True),
    EVENTS_EXCHANGE: RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True),
    DEAD_LETTER_EXCHANGE: RabbitExchange(
        DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True
    ),
}


def to_json(body: BaseModel | Mapping[str, Any]) -> bytes:
    if isinstance(body, BaseModel):
        # Contract fields that are null stay in the body (``installed_on: null``).
        return body.model_dump_json().encode()
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class Messenger:
    """Publishes with the properties every message of the contract carries, awaiting confirms."""

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

    async def reply(self, delivery: Delivery, body: BaseModel | Mapping[str, Any]) -> None:
        """Answer a request on its ``reply_to`` with its ``correlation_id``."""
        if not delivery.reply_to:
            return
        await self.publish(
            body,
            exchange="",
            routing_key=delivery.reply_to,
            message_type=reply_type(delivery.routing_key)
            if delivery.routing_key in COMMANDS
            else f"{delivery.message_type or 'Message'}Reply",
            correlation_id=delivery.correlation_id or delivery.message_id,
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
            exchange=EXCHANGE_OBJECTS[DEAD_LETTER_EXCHANGE],
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


def delivery_from(raw: Any) -> Delivery:
    headers = dict(raw.headers or {})
    original = headers.get(ORIGINAL_ROUTING_KEY)
    if isinstance(original, bytes):
        original = original.decode()
    return Delivery(
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
