"""The rules around every handler.

``consume`` runs a route on one delivery: one log line per message, manual ack only
after the handler's effects are stored, malformed bodies answered and parked in
``<queue>.dlq`` with ``x-error``, failures retried with growing pauses and parked at the
delivery limit, in-flight messages returned (never rejected) on shutdown. A route reads
the decoded body into the typed command or event and calls the service's handler
(``shared.runtime``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from faststream.rabbit.message import RabbitMessage

from shared.contracts.reading import MalformedMessage, decode_body, malformed_refusal
from shared.contracts.replies import Refused
from shared.messaging import Delivery, Messenger, Outcome, delivery_from
from shared.routes import Route
from shared.topology import DELIVERY_LIMIT

log = structlog.get_logger("meter.messaging")


def retry_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Growing pause before a failed message goes back to its queue."""
    return float(min(cap, base * (2**attempt)))


async def consume(
    message: RabbitMessage,
    *,
    queue: str,
    route: Route,
    messenger: Messenger,
    retry_base: float = 0.5,
) -> None:
    """Run ``route`` on one delivery and settle it: ack, answer, retry or park."""
    raw = message.raw_message
    delivery = delivery_from(raw)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        queue=queue,
        message_id=delivery.message_id,
        correlation_id=delivery.correlation_id,
        message_type=delivery.message_type,
        application_number=None,
    )
    started = time.perf_counter()
    try:
        try:
            body = decode_body(raw.body)
            number = body.get("application_number")
            if isinstance(number, str):
                structlog.contextvars.bind_contextvars(application_number=number)
            outcome = await route(body, delivery)
        except MalformedMessage as exc:
            await _answer_malformed(delivery, raw, queue, str(exc), messenger)
            outcome = Outcome(log={"outcome": "malformed", "parked": True, "error": str(exc)})
        else:
            if outcome.reply is not None:
                await messenger.reply(delivery, outcome.reply)
    except asyncio.CancelledError:
        # Shutdown: leave the delivery unacknowledged so the broker returns it.
        log.warning("message returned unfinished on shutdown", **_took(started))
        raise
    except Exception as exc:
        await _retry_or_park(message, raw, delivery, queue, exc, messenger, retry_base, started)
        return
    await message.ack()
    # structlog reserves "event" for the message text.
    fields = {("step" if key == "event" else key): value for key, value in outcome.log.items()}
    log.info("message processed", **fields, **_took(started))


async def _answer_malformed(
    delivery: Delivery, raw: Any, queue: str, error: str, messenger: Messenger
) -> None:
    if delivery.reply_to:
        await messenger.reply(delivery, Refused(errors=malformed_refusal(error)))
    await messenger.park(raw, queue, f"malformed_message: {error}")


async def _retry_or_park(
    message: RabbitMessage,
    raw: Any,
    delivery: Delivery,
    queue: str,
    exc: Exception,
    messenger: Messenger,
    retry_base: float,
    started: float,
) -> None:
    error = f"{type(exc).__name__}: {exc}"
    attempt = delivery.delivery_count
    if attempt + 1 >= DELIVERY_LIMIT:
        try:
            await messenger.park(raw, queue, f"failed {attempt + 1} times; last: {error}")
        except Exception:
            log.exception("parking failed; returning the message", **_took(started))
            await message.reject(requeue=True)
            return
        await message.ack()
        log.error("message parked", outcome="failed", error=error, **_took(started))
        return
    delay = retry_delay(attempt, retry_base)
    log.warning(
        "message failed; will retry",
        outcome="retry",
        error=error,
        attempt=attempt + 1,
        retry_in_s=delay,
        **_took(started),
    )
    await asyncio.sleep(delay)
    # reject, not nack: RabbitMQ 4.3+ counts only rejects towards the delivery limit.
    await message.reject(requeue=True)


def _took(started: float) -> dict[str, float]:
    return {"duration_ms": round((time.perf_counter() - started) * 1000, 2)}
