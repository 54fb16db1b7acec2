"""How every service publishes, answers and parks (the message properties of the contract).

``Messenger`` publishes with the properties every message carries (persistent, JSON,
``message_id``, ``timestamp``, ``type``, ``app_id``), answers requests on their
``reply_to``, parks messages in ``<queue>.dlq`` and puts a failed message back for another
try. ``delivery_from`` reads an AMQP delivery's properties defensively: no header a sender
sets can break it, and the ``x-original-*`` headers are believed only on a message that
reached its queue straight from the default exchange (a retry, or a replay by an operator),
which no portal or field app may publish to.
The rules around a handler live in ``shared.consuming``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiormq.abc
import structlog
from faststream.rabbit import RabbitBroker, RabbitExchange
from pydantic import BaseModel

from shared.clock import utc_now
from shared.contracts.reading import MalformedMessage
from shared.contracts.registry import COMMANDS, DEAD_LETTER_EXCHANGE, reply_type
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
FAILURES = "x-meter-failures"  # how often the message failed on its own (not outages)
_PARKING_HEADERS = ("x-error", "x-parked", "x-death", "x-first-death", "x-last-death")


def _exchange(name: str) -> RabbitExchange:
    # Publishing names the exchange only; the topology declares it (shared.topology).
    return RabbitExchange(name, declare=False)


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
        mandatory: bool | None = None,
    ) -> bool:
        """Publish and await the broker's confirm. ``mandatory`` (by default only for the
        default exchange, a queue by name) asks the broker to hand the message back when no
        queue is bound to its routing key: False is returned then, the message delivered
        nowhere. A refusal (nack) raises ``DeliveryError``."""
        payload = body if isinstance(body, bytes) else to_json(body)
        exchange_obj = _exchange(exchange)
        result = await self.broker.publish(
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
            mandatory=exchange == "" if mandatory is None else mandatory,
        )
        return not isinstance(result, aiormq.abc.DeliveredMessage)

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

    async def park(
        self, raw: Any, queue: str, error: str, delivery: Delivery, *, keep_body: bool = True
    ) -> None:
        """Copy a message into ``<queue>.dlq`` with the error that parked it.

        The sender recorded is the one the broker validated (``delivery``), overwriting any
        ``x-original-*`` header the sender put on the message itself.
        """
        headers = _recorded(raw, delivery)
        headers.update(
            {"x-error": error[:1000], "x-parked-from": queue, "x-parked-at": utc_now().isoformat()}
        )
        if not keep_body:
            headers["x-original-size"] = len(raw.body or b"")
        await self.broker.publish(
            bytes(raw.body) if keep_body else b"",
            exchange=_exchange(DEAD_LETTER_EXCHANGE),
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

    async def retry_later(self, raw: Any, queue: str, delivery: Delivery) -> None:
        """Put a message that failed on its own back at the end of its queue, counted."""
        headers = _recorded(raw, delivery)
        headers[FAILURES] = delivery.failures + 1
        await self.broker.publish(
            bytes(raw.body),
            exchange="",
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
            mandatory=True,
        )


def _recorded(raw: Any, delivery: Delivery) -> dict[str, Any]:
    """The message's headers with its validated routing key and sender recorded."""
    headers = {
        key: value
        for key, value in _headers(raw).items()
        if not key.startswith(_PARKING_HEADERS)
        and key not in (ORIGINAL_ROUTING_KEY, ORIGINAL_USER_ID, ORIGINAL_APP_ID, "x-delivery-count")
    }
    # Replays and retries go straight to the queue; the handler still sees the original key.
    headers[ORIGINAL_ROUTING_KEY] = delivery.routing_key
    if delivery.user_id:
        headers[ORIGINAL_USER_ID] = delivery.user_id
    if delivery.app_id:
        headers[ORIGINAL_APP_ID] = delivery.app_id
    return headers


def _headers(raw: Any) -> dict[str, Any]:
    headers = getattr(raw, "headers", None)
    return {str(key): value for key, value in headers.items()} if isinstance(headers, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    """A counting header as a number; anything else counts as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def delivery_from(raw: Any) -> Delivery:
    headers = _headers(raw)
    # Only a message published straight into its queue (a retry or an operator's replay)
    # may say where it first came from; anyone else's x-original-* headers are ignored.
    direct = not (getattr(raw, "exchange", None) or "")
    routing_key = str(raw.routing_key or "")
    user_id = _text(raw.user_id)
    app_id = _text(raw.app_id)
    if direct:
        routing_key = _text(headers.get(ORIGINAL_ROUTING_KEY)) or routing_key
        user_id = _text(headers.get(ORIGINAL_USER_ID)) or user_id
        app_id = _text(headers.get(ORIGINAL_APP_ID)) or app_id
    return Delivery(
        routing_key=routing_key,
        message_id=_text(raw.message_id),
        correlation_id=_text(raw.correlation_id),
        reply_to=_text(raw.reply_to),
        user_id=user_id,
        message_type=_text(raw.type),
        app_id=app_id,
        headers=headers,
        delivery_count=_count(headers.get("x-delivery-count")),
        failures=_count(headers.get(FAILURES)) if direct else 0,
    )
