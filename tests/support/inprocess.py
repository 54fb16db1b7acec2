"""A portal that calls a service's routes in-process: the same reading, rules and replies as
over the broker, with no broker (unit layer). Delivery itself is proven by broker tests.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from shared.contracts.reading import MalformedMessage, malformed_refusal
from shared.contracts.registry import reply_type
from shared.contracts.replies import Refused
from shared.delivery import Delivery
from shared.messaging import to_json
from shared.routes import Routes
from tests.support.amqp import Reply


@dataclass
class LocalMessage:
    """The properties of a reply that tests look at."""

    type: str
    correlation_id: str
    app_id: str = "in-process"
    content_type: str = "application/json"


class LocalPortal:
    def __init__(self, routes: Routes, user_id: str | None = "guest") -> None:
        self.routes = routes
        self.user_id = user_id

    async def request(
        self,
        routing_key: str,
        body: Any,
        *,
        message_id: str | None = None,
        user_id: str | bool | None = True,
    ) -> Reply:
        sender = self.user_id if user_id is True else (user_id or None)
        correlation_id = str(uuid.uuid4())
        delivery = Delivery(
            routing_key=routing_key,
            message_id=message_id or str(uuid.uuid4()),
            correlation_id=correlation_id,
            reply_to="in-process",
            user_id=sender,
            message_type=None,
        )
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            outcome = await self.routes.deliver(routing_key, payload, delivery)
            answer = outcome.reply
            if outcome.then is not None:  # as the consumer does, before acknowledging
                await outcome.then()
        except MalformedMessage as exc:
            answer = Refused(errors=malformed_refusal(str(exc)))
        assert answer is not None, f"{routing_key} gave no reply"
        message = LocalMessage(type=reply_type(routing_key), correlation_id=correlation_id)
        return Reply(json.loads(to_json(answer)), message)  # type: ignore[arg-type]
