"""What a handler knows of a delivery besides its body, and what it gives back (pure).

Handlers receive the typed command or event plus a ``Delivery``; they return an
``Outcome``: the reply (when the sender asked for one), the fields of the one log line
written for the message, and what must still be done before the message is acknowledged
but need not hold the reply back.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Delivery:
    """An AMQP delivery's properties, independent of the client library."""

    routing_key: str
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    user_id: str | None = None  # validated by RabbitMQ against the connection's user
    message_type: str | None = None
    app_id: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    delivery_count: int = 0  # the broker's count of earlier deliveries (restarts included)
    failures: int = 0  # how often it failed on its own before (outages do not count)


Reply = BaseModel | dict[str, Any]


@dataclass
class Outcome:
    """A handler's result: the reply (if the sender asked for one) and log fields.

    ``then``, when given, is called once the reply is sent and awaited before the message
    is acknowledged: work the sender need not wait for but that must not be lost, such as
    publishing the events of a change already stored (their outbox keeps them if the
    process stops in between, and a redelivered message is answered from what was stored).
    """

    reply: Reply | None = None
    log: dict[str, Any] = field(default_factory=dict)
    then: Callable[[], Awaitable[None]] | None = None


def new_message_id() -> str:
    return str(uuid.uuid4())
