"""Status's subscribers: wire to use case, nothing more (the runtime reads the messages)."""

from __future__ import annotations

from dataclasses import dataclass

from services.status.usecases import ReadModel
from shared.contracts.commands import GetApplication, ListApplications
from shared.contracts.events import Event
from shared.delivery import Delivery, Outcome
from shared.routes import Routes

EVENTS_QUEUE = "status.application_events"


@dataclass
class StatusHandlers:
    read_model: ReadModel

    async def get_application(self, query: GetApplication, _: Delivery) -> Outcome:
        return await self.read_model.get_application(query)

    async def list_applications(self, query: ListApplications, _: Delivery) -> Outcome:
        return await self.read_model.list_applications(query)

    async def application_event(self, event: Event, _: Delivery) -> Outcome:
        return await self.read_model.project(event)

    def serve(self, routes: Routes) -> None:
        routes.command(GetApplication, self.get_application)
        routes.command(ListApplications, self.list_applications)
        routes.events(EVENTS_QUEUE, self.application_event)
