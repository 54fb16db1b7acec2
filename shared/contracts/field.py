"""Messages for field apps on ``meter.field`` (docs/security.md): one per assignment.

Field apps do not read ``meter.events``, which carries every citizen's FIN, phone and
e-mail. Instead the dispatcher publishes each assignment, in the same outbox write as
``application.assigned``, to the topic exchange ``meter.field`` with the routing key
``team.<team_id>``; the broker lets a field-app user read only its own teams' keys. The
body is what a team needs on site: no FIN, no e-mail.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.commands import Service
from shared.contracts.registry import FIELD_EXCHANGE

TEAM_KEY_PREFIX = "team."


def team_routing_key(team_id: str) -> str:
    """The ``meter.field`` routing key of a team's work orders: ``team.<team_id>``."""
    return TEAM_KEY_PREFIX + team_id


class WorkOrderAssigned(BaseModel):
    """A work order given to a field team, with what the team needs on site."""

    # Producers may add fields; field apps keep what they do not know.
    model_config = ConfigDict(extra="allow")

    exchange: ClassVar[str] = FIELD_EXCHANGE
    message_type: ClassVar[str] = "work_order.assigned"
    producer: ClassVar[Service] = Service.DISPATCHER

    work_order_id: str = Field(description="quote it in dispatcher.report_outcome")
    application_number: str
    team_id: str
    subscriber_code: str
    address: str = Field(description="the subscriber code's address; empty when unknown")
    district_code: str
    reason_code: str
    additional_meter: bool = Field(description="the site has an active meter already")
    phone: str = Field(description="the applicant's mobile number, E.164")
    notes: str = Field(description="the applicant's notes, may be empty")

    @property
    def routing_key(self) -> str:
        return team_routing_key(self.team_id)

    def body(self) -> dict[str, Any]:
        """The message as published: JSON values."""
        return self.model_dump(mode="json")
