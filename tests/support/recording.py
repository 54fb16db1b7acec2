"""A messenger that records what would have been published: stores' outboxes without a broker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass
class Published:
    exchange: str
    routing_key: str
    message_type: str
    body: Any
    message_id: str | None
    correlation_id: str | None


@dataclass
class RecordingMessenger:
    published: list[Published] = field(default_factory=list)
    fail: bool = False  # publish raises, as a broker outage would
    # Routing keys no queue is bound to: a mandatory message to one is handed back.
    unbound: set[str] = field(default_factory=set)

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
        if self.fail:
            raise ConnectionError("broker unreachable")
        if routing_key in self.unbound:
            return not (exchange == "" if mandatory is None else mandatory)
        self.published.append(
            Published(exchange, routing_key, message_type, body, message_id, correlation_id)
        )
        return True
