"""The notifier's subscriber: wire to use case, nothing more (the runtime reads the events).

Each step's e-mail and SMS jobs are recorded, then the message is acknowledged and the
background sender woken; sending happens outside the consumer's path (``background.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from services.notifier.usecases import Notifier
from shared.contracts.events import (
    ApplicationAssigned,
    ApplicationCompleted,
    ApplicationForwarded,
    ApplicationOverdue,
    ApplicationRegistered,
    ApplicationRejected,
    ApplicationWithdrawn,
    Event,
    NotificationDelivered,
    NotificationFailed,
)
from shared.delivery import Delivery, Outcome
from shared.routes import Routes


@dataclass
class NotifierHandlers:
    notifier: Notifier
    wake_sender: Callable[[], None]

    async def application_event(self, event: Event, delivery: Delivery) -> Outcome:
        match event:
            case (
                ApplicationRegistered()
                | ApplicationForwarded()
                | ApplicationAssigned()
                | ApplicationCompleted()
                | ApplicationRejected()
                | ApplicationWithdrawn()
            ):
                # The use case tells the steps the citizen hears of from the others.
                outcome = await self.notifier.record(event, delivery.correlation_id)
                self.wake_sender()
                return outcome
            # Overdue is for operations (the citizen is not told): not bound to this queue, and
            # ignored should it arrive.
            case ApplicationOverdue() | NotificationDelivered() | NotificationFailed():
                return Outcome(None, {"outcome": "ignored", "step": event.routing_key})
            case _:
                assert_never(event)

    def serve(self, routes: Routes) -> None:
        routes.events("notifier.application_events", self.application_event)
