"""Intake's subscribers: wire to use case, nothing more (the runtime reads the commands)."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.usecases import Intake
from shared.contracts.commands import (
    CheckSubscriber,
    ListReasons,
    ListSubscriberAccounts,
    SubmitApplication,
)
from shared.contracts.events import Event
from shared.contracts.reading import Refusal
from shared.delivery import Delivery, Outcome
from shared.routes import Routes


@dataclass
class IntakeHandlers:
    intake: Intake

    async def list_reasons(self, query: ListReasons, _: Delivery) -> Outcome:
        return await self.intake.list_reasons(query)

    async def list_subscriber_accounts(self, query: ListSubscriberAccounts, _: Delivery) -> Outcome:
        return await self.intake.list_accounts(query)

    async def check_subscriber(self, query: CheckSubscriber, _: Delivery) -> Outcome:
        return await self.intake.check_subscriber(query)

    async def submit_application(
        self, parsed: SubmitApplication | Refusal, delivery: Delivery
    ) -> Outcome:
        # The channel comes from the sender RabbitMQ validated, never from the body.
        return await self.intake.submit(parsed, delivery.user_id, delivery.correlation_id)

    async def application_closed(self, event: Event, _: Delivery) -> Outcome:
        return await self.intake.follow(event)

    def serve(self, routes: Routes) -> None:
        routes.command(ListReasons, self.list_reasons)
        routes.command(ListSubscriberAccounts, self.list_subscriber_accounts)
        routes.command(CheckSubscriber, self.check_subscriber)
        routes.command_or_refusal(SubmitApplication, self.submit_application)
        routes.events("intake.application_closed", self.application_closed)
