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
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.append(
            Published(exchange, routing_key, message_type, body, message_id, correlation_id)
        )
