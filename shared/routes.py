"""What a service serves: each queue's route from a decoded body to the handler's outcome.

A command's route first checks that its sender (the ``user_id`` RabbitMQ validated) may
send it (``shared.senders``): no known sender is ``unauthenticated``, a sender of another
role ``forbidden``; either is answered, logged with the user, and has no effect. Then it
reads the body into the registry's typed command or event and calls the handler:
``command`` refuses a command that breaks the contract without calling the handler;
``command_or_refusal`` lets the handler add its own rules to the refusal; ``events``
passes each event as its registry model (an event the registry does not know is logged
and acknowledged). ``shared.runtime`` subscribes every route to its queue; tests call
``deliver`` to run a route in-process, without a broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import structlog

from shared.contracts.errors import ErrorCode, field_error
from shared.contracts.reading import Refusal, decode_body, read_command, read_event
from shared.contracts.registry import Command, Event
from shared.contracts.replies import Refused
from shared.delivery import Delivery, Outcome
from shared.senders import Senders

C = TypeVar("C", bound=Command)
Route = Callable[[dict[str, Any], Delivery], Awaitable[Outcome]]
CommandHandler = Callable[[C, Delivery], Awaitable[Outcome]]
RefusalAwareHandler = Callable[[C | Refusal, Delivery], Awaitable[Outcome]]
EventHandler = Callable[[Event, Delivery], Awaitable[Outcome]]

log = structlog.get_logger("meter.routes")


def refused(refusal: Refusal) -> Outcome:
    codes = [error.code.value for error in refusal.errors]
    return Outcome(Refused(errors=refusal.errors), {"outcome": "refused", "codes": codes})


class Routes:
    """The queues a service consumes, each with its route."""

    def __init__(self, senders: Senders | None = None) -> None:
        self.table: dict[str, Route] = {}
        self.senders = senders or Senders()

    def refusal_for_sender(
        self, model: type[Command], body: dict[str, Any], delivery: Delivery
    ) -> Outcome | None:
        """Why this sender may not send ``model``, or None when it may."""
        roles = self.senders.roles_of(delivery.user_id)
        if model.sender in roles:
            return None
        code = ErrorCode.FORBIDDEN if roles else ErrorCode.UNAUTHENTICATED
        log.warning(
            "a command from a sender without its role",
            outcome=code.value,
            user_id=delivery.user_id,
            role_needed=model.sender.value,
        )
        error = field_error("user_id", code, model.message_language(body))
        return Outcome(
            Refused(errors=[error]), {"outcome": code.value, "user_id": delivery.user_id}
        )

    def command(self, model: type[C], handler: CommandHandler[C]) -> None:
        """Serve ``model``'s queue: well-formed commands reach ``handler``, others are refused."""

        async def route(body: dict[str, Any], delivery: Delivery) -> Outcome:
            if (denied := self.refusal_for_sender(model, body, delivery)) is not None:
                return denied
            parsed = read_command(model, body)
            if isinstance(parsed, Refusal):
                return refused(parsed)
            return await handler(parsed, delivery)

        self.table[model.routing_key] = route

    def command_or_refusal(self, model: type[C], handler: RefusalAwareHandler[C]) -> None:
        """Serve ``model``'s queue; ``handler`` decides about refusals too (it may add rules)."""

        async def route(body: dict[str, Any], delivery: Delivery) -> Outcome:
            if (denied := self.refusal_for_sender(model, body, delivery)) is not None:
                return denied
            return await handler(read_command(model, body), delivery)

        self.table[model.routing_key] = route

    def events(self, queue_name: str, handler: EventHandler) -> None:
        """Serve an event queue: each event read as its registry model reaches ``handler``."""

        async def route(body: dict[str, Any], delivery: Delivery) -> Outcome:
            event = read_event(delivery.routing_key, body)
            if event is None:
                log.warning("an event the registry does not know", event_type=delivery.routing_key)
                return Outcome(None, {"outcome": "ignored", "event_type": delivery.routing_key})
            return await handler(cast(Event, event), delivery)

        self.table[queue_name] = route

    async def deliver(self, queue_name: str, body: bytes, delivery: Delivery) -> Outcome:
        """Run one queue's route in-process (``MalformedMessage`` for an unreadable body)."""
        return await self.table[queue_name](decode_body(body), delivery)
