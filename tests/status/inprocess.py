"""The status service in-process: its own routes over the in-memory store, no broker.

Events are delivered to the route of ``status.application_events`` and queries asked
through ``LocalPortal``, so the reading of messages, the projection and the replies are
the service's own; delivery over the broker is proven by the broker tests.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from services.status.handlers import EVENTS_QUEUE, StatusHandlers
from services.status.usecases import ReadModel
from shared.delivery import Delivery, Outcome
from shared.routes import Routes
from tests.status.fakes import MemoryStatusStore
from tests.support.inprocess import LocalPortal

Condition = Callable[[dict[str, Any] | None], bool]


class LocalStatus:
    def __init__(self, store: MemoryStatusStore | None = None) -> None:
        self.store = store or MemoryStatusStore()
        self.routes = Routes()
        StatusHandlers(ReadModel(self.store)).serve(self.routes)
        self.portal = LocalPortal(self.routes)
        self.outcomes: list[Outcome] = []

    async def publish(
        self, routing_key: str, body: dict[str, Any], message_id: str | None = None
    ) -> str:
        """Deliver one event as the broker would; its message id."""
        message_id = message_id or str(uuid.uuid4())
        delivery = Delivery(routing_key=routing_key, message_id=message_id)
        outcome = await self.routes.deliver(EVENTS_QUEUE, json.dumps(body).encode(), delivery)
        self.outcomes.append(outcome)
        return message_id

    async def projected(self, number: str, condition: Condition) -> dict[str, Any]:
        """The document of ``number``, which must satisfy ``condition`` already."""
        document = self.store.documents.get(number)
        assert condition(document), f"{number} is not there; it is: {document}"
        assert document is not None
        return dict(document)
