"""Dispatcher's subscribers: read the wire message, apply the rules, store, publish, answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from services.dispatcher import workorders
from services.dispatcher.dispatch import Dispatcher
from services.dispatcher.domain import reports, stock
from services.dispatcher.store import DispatcherStore
from shared.contracts.errors import ErrorCode, FieldError, field_error
from shared.contracts.messages import Refused
from shared.messaging import Incoming, Outcome, new_message_id

ACCEPTED = {"outcome": "accepted"}
WRITE_ATTEMPTS = 20  # a report racing other writes to its work order tries this often


class WorkOrderBusy(Exception):
    """The work order kept changing under the report; the message is retried."""


def refused(errors: list[FieldError]) -> dict[str, Any]:
    return Refused(errors=errors).model_dump(mode="json")


def malformed_reply(incoming: Incoming, error: str) -> Refused:
    return Refused(errors=[field_error("body", ErrorCode.MALFORMED_MESSAGE, "az", detail=error)])


@dataclass
class DispatcherHandlers:
    store: DispatcherStore
    dispatcher: Dispatcher
    clock: Callable[[], datetime]

    async def application_registered(self, incoming: Incoming) -> Outcome:
        app = workorders.Application.from_event(incoming.json_object())
        structlog.contextvars.bind_contextvars(application_number=app.number)
        status = await self.dispatcher.register(app, incoming.correlation_id)
        return Outcome(None, {"outcome": status, "district": app.district_code})

    async def report_outcome(self, incoming: Incoming) -> Outcome:
        body = incoming.json_object()
        number = body.get("application_number")
        if isinstance(number, str):
            structlog.contextvars.bind_contextvars(application_number=number)
        for _ in range(WRITE_ATTEMPTS):
            if incoming.message_id and (stored := await self._answered(incoming.message_id)):
                return stored
            outcome = await self._close(body, incoming.message_id)
            if outcome is not None:
                return outcome
        raise WorkOrderBusy(f"work order of {number!r} kept changing")

    async def receive_stock(self, incoming: Incoming) -> Outcome:
        read = stock.read_receipt(incoming.json_object())
        if isinstance(read, list):
            codes = [error.code.value for error in read]
            return Outcome(refused(read), {"outcome": "refused", "codes": codes})
        district, quantity = read
        in_stock = await self.store.receive(
            district, quantity, incoming.message_id or new_message_id()
        )
        reply = {**ACCEPTED, "in_stock": in_stock}
        return Outcome(reply, {"outcome": "accepted", "district": district, "in_stock": in_stock})

    async def _answered(self, message_id: str) -> Outcome | None:
        """The first reply to a redelivered report; its stock change is finished too."""
        closed = await self.store.work_order_by_message(message_id)
        if closed is not None:
            await self.dispatcher.settle_stock(closed)
            return Outcome(closed["report_reply"], {"outcome": "accepted", "duplicate": True})
        reply = await self.store.refusal_for(message_id)
        if reply is None:
            return None
        return Outcome(reply, {"outcome": "refused", "duplicate": True})

    async def _close(self, body: dict[str, Any], message_id: str | None) -> Outcome | None:
        """Close the work order as reported; None when a concurrent write got there first."""
        read = reports.read_report(body)
        errors = list(read) if isinstance(read, list) else []
        work_order_id = body.get("work_order_id")
        work_order = None
        if isinstance(work_order_id, str) and work_order_id.strip():
            work_order = await self.store.work_order_by_id(work_order_id.strip())
        errors.extend(reports.state_errors(work_order, body))
        if errors or isinstance(read, list) or work_order is None:
            reply = refused(errors)
            if message_id:
                await self.store.remember_refusal(message_id, reply)
            codes = [error.code.value for error in errors]
            return Outcome(reply, {"outcome": "refused", "codes": codes})
        closed = workorders.reported(work_order, read, self.clock(), message_id, dict(ACCEPTED))
        if not await self.store.replace_work_order(work_order, closed):
            return None
        closed["version"] = work_order["version"] + 1
        await self.dispatcher.settle_stock(closed)
        await self.dispatcher.publish(closed)
        return Outcome(dict(ACCEPTED), {"outcome": "accepted", "report": read.outcome})
