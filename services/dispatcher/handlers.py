"""Dispatcher's subscribers: wire to use case, nothing more (the runtime reads the messages)."""

from __future__ import annotations

from dataclasses import dataclass

from services.dispatcher.usecases import Dispatcher
from shared.contracts.commands import ReceiveStock, ReportOutcome, WithdrawApplication
from shared.contracts.events import Event
from shared.contracts.reading import Refusal
from shared.delivery import Delivery, Outcome
from shared.routes import Routes


@dataclass
class DispatcherHandlers:
    dispatcher: Dispatcher

    async def application_registered(self, event: Event, delivery: Delivery) -> Outcome:
        return await self.dispatcher.follow(event, delivery.correlation_id)

    async def report_outcome(self, parsed: ReportOutcome | Refusal, delivery: Delivery) -> Outcome:
        # The work order's own rules are reported together with the contract's; the user
        # RabbitMQ validated must act for the team the report names.
        return await self.dispatcher.report(parsed, delivery.message_id, delivery.user_id)

    async def receive_stock(self, command: ReceiveStock, delivery: Delivery) -> Outcome:
        return await self.dispatcher.receive_stock(command, delivery.message_id)

    async def withdraw_application(
        self, command: WithdrawApplication, delivery: Delivery
    ) -> Outcome:
        # The route has checked that the sender is a portal (CHANNEL_USERS).
        return await self.dispatcher.withdraw(command)

    def serve(self, routes: Routes) -> None:
        routes.events("dispatcher.application_registered", self.application_registered)
        routes.command_or_refusal(ReportOutcome, self.report_outcome)
        routes.command(ReceiveStock, self.receive_stock)
        routes.command(WithdrawApplication, self.withdraw_application)
