"""What a parked message says about itself, read so that no sender can lie through it.

A message reaches ``<queue>.dlq`` in one of two ways:

- parked by its service (``shared.messaging.Messenger.park``): published to ``meter.dlx`` by
  the service, which recorded the validated routing key and sender in ``x-original-*``
  headers, overwriting whatever the sender put there. No portal or field app may publish
  to ``meter.dlx`` or the default exchange, so these headers are the service's;
- dead-lettered by the broker (delivery limit): the message as it was last published, with
  ``x-death``. If that was a sender's publish (to ``meter.commands`` or ``meter.events``),
  its ``x-original-*`` headers are the sender's own and are ignored: the sender is the
  ``user_id`` property RabbitMQ validated and the routing key the one it was published
  with. If it was a service's retry (published to the default exchange) the headers are
  the service's record.

``sender_of`` applies these rules; replay puts only what they give back on the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.messaging import FAILURES, ORIGINAL_APP_ID, ORIGINAL_ROUTING_KEY, ORIGINAL_USER_ID

# Headers of the parking itself: not carried into a replayed message.
PARKING_HEADERS = (
    "x-error",
    "x-parked",
    "x-death",
    "x-first-death",
    "x-last-death",
    "x-delivery-count",
    "x-original-size",
    FAILURES,
    ORIGINAL_ROUTING_KEY,
    ORIGINAL_USER_ID,
    ORIGINAL_APP_ID,
)
PREVIEW_CHARACTERS = 200


@dataclass(frozen=True)
class Sender:
    routing_key: str | None
    user_id: str | None
    app_id: str | None


def text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _last_death(headers: dict[str, Any]) -> dict[str, Any] | None:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return {str(key): value for key, value in deaths[0].items()}
    return None


def sender_of(message: Any, *, straight_from_sender: bool = False) -> Sender:
    """The validated routing key, user and app of a parked message (see the module doc).

    ``straight_from_sender``: a message of ``meter.unroutable``, which the broker routed
    there from the sender's own publish, so none of its headers is believed.
    """
    headers = dict(message.headers or {})
    death = _last_death(headers)
    if straight_from_sender:
        return Sender(text(message.routing_key), text(message.user_id), text(message.app_id))
    if death is None or not text(death.get("exchange")):
        # Parked by its service, or a service's retry dead-lettered: the service's record.
        return Sender(
            text(headers.get(ORIGINAL_ROUTING_KEY)) or text(message.routing_key),
            text(headers.get(ORIGINAL_USER_ID)) or text(message.user_id),
            text(headers.get(ORIGINAL_APP_ID)) or text(message.app_id),
        )
    keys = death.get("routing-keys")
    routing_key = text(keys[0]) if isinstance(keys, list) and keys else None
    return Sender(routing_key, text(message.user_id), text(message.app_id))


def replay_headers(message: Any, parking_queue: str) -> dict[str, Any]:
    """The headers a replayed message carries: its own, less the parking's, plus its sender.

    The failure count starts again, so the message gets its full tries.
    """
    sender = sender_of(message)
    headers = {
        str(key): value
        for key, value in (message.headers or {}).items()
        if not str(key).startswith(PARKING_HEADERS)
    }
    headers["x-replayed-from"] = parking_queue
    for name, value in (
        (ORIGINAL_ROUTING_KEY, sender.routing_key),
        (ORIGINAL_USER_ID, sender.user_id),
        (ORIGINAL_APP_ID, sender.app_id),
    ):
        if value:
            headers[name] = value
    return headers


def describe(message: Any, *, straight_from_sender: bool = False) -> dict[str, Any]:
    """One parked (or unroutable) message for an operator: why, from whom, when, what."""
    headers = dict(message.headers or {})
    sender = sender_of(message, straight_from_sender=straight_from_sender)
    death = _last_death(headers)
    error = None if straight_from_sender else text(headers.get("x-error"))
    if straight_from_sender:
        error = "no queue binds this routing key"
    elif error is None and death is not None:
        error = f"dead-lettered by the broker ({text(death.get('reason'))})"
    body = bytes(message.body or b"")
    return {
        "message_id": text(message.message_id),
        "routing_key": sender.routing_key,
        "sender": sender.user_id,
        "app_id": sender.app_id,
        "error": error,
        "parked_at": None if straight_from_sender else text(headers.get("x-parked-at")),
        "size": len(body) if straight_from_sender else headers.get("x-original-size", len(body)),
        "body": body.decode("utf-8", "replace")[:PREVIEW_CHARACTERS],
    }
