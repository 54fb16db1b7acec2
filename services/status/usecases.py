"""Status's use cases: project events into the read model, answer the citizen's queries.

Each takes a typed event or query and returns the ``Outcome`` (reply and log fields);
storage is the ``StatusStore`` port, whose write also pushes a changed view to the
portals. Someone else's application and an unknown number answer alike: ``not_found``.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from services.status import domain
from services.status.store import StatusStore
from shared.contracts.commands import GetApplication, ListApplications, is_application_number
from shared.contracts.events import Event
from shared.contracts.replies import ApplicationList, NotFound
from shared.delivery import Outcome


@dataclass
class ReadModel:
    store: StatusStore

    async def project(self, event: Event) -> Outcome:
        """Keep what ``event`` says of its application; a copy changes nothing."""
        fact = domain.fact_of(event)
        number = fact["application_number"]
        structlog.contextvars.bind_contextvars(application_number=number)
        changed = await self.store.record(number, [fact])
        outcome = "projected" if changed else "duplicate"
        return Outcome(None, {"outcome": outcome, "event_type": event.routing_key})

    async def get_application(self, query: GetApplication) -> Outcome:
        number = query.application_number
        structlog.contextvars.bind_contextvars(application_number=number)
        view = None
        if is_application_number(number):
            view = await self.store.own_application(query.applicant_fin, number)
        if view is None:
            return Outcome(NotFound(), {"outcome": "not_found"})
        return Outcome(view, {"outcome": "answered", "status": view.status.value})

    async def list_applications(self, query: ListApplications) -> Outcome:
        views = await self.store.own_applications(query.applicant_fin)
        reply = ApplicationList(applications=views)
        return Outcome(reply, {"outcome": "answered", "count": len(views)})
