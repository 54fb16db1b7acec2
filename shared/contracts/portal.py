"""Updates for portals on ``meter.portal``: the status service publishes every change of an
application's view, so a portal can update its pages without polling.

Routing key ``<channel>.application_updated`` (``e-gov``, ``azersu``, ``e-su``); the broker
lets each portal user read only its own channel's keys. The body is the citizen's view of
the application (no contact data) plus the ``applicant_fin`` it belongs to. Published
through the read model's outbox, in the same write as the view.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from shared.contracts.commands import Service
from shared.contracts.registry import PORTAL_EXCHANGE
from shared.contracts.replies import ApplicationView

UPDATED = "application_updated"


def portal_routing_key(channel: str) -> str:
    """The ``meter.portal`` routing key of a channel's updates."""
    return f"{channel}.{UPDATED}"


class ApplicationUpdated(ApplicationView):
    """An application's view after a change, for the portal of its channel."""

    exchange: ClassVar[str] = PORTAL_EXCHANGE
    message_type: ClassVar[str] = UPDATED
    producer: ClassVar[Service] = Service.STATUS

    applicant_fin: str = Field(description="the citizen the view belongs to")

    @property
    def routing_key(self) -> str:
        return portal_routing_key(self.channel)

    def body(self) -> dict[str, Any]:
        """The message as published: JSON values, nulls kept."""
        return self.model_dump(mode="json")
