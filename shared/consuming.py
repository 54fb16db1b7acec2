"""The rules around every handler (DESIGN.md section 9).

``consume`` runs a handler on one delivery: one log line per message, manual ack only
after the handler's effects are stored, malformed bodies answered and parked in
``<queue>.dlq`` with ``x-error``, failures retried with growing pauses and parked at the
delivery limit, in-flight messages returned (never rejected) on shutdown.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from faststream.rabbit.message import RabbitMessage

from shared.messaging import (
    Handler,
    Incoming,
    MalformedMessage,
    MalformedReply,
    Messenger,
    Outcome,
    incoming_from,
)
from shared.topology import DELIVERY_LIMIT

log = structlog.get_logger("meter.messaging")


def retry_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Growing pause before a failed message goes back to its queue."""
    return float(min(cap, base * (2**attempt)))


async def consume(
    message: RabbitMessage,
    *,
    queue: str,
    handler: Handler,
    messenger: Messenger,
    malformed_reply: MalformedReply | None = None,
    retry_base: float = 0.5,
) -> None:
    """Run ``handler`` on one delivery and settle it exactly as DESIGN.md section 9 says."""
    raw = message.raw_message
    incoming = incoming_from(raw)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(
        queue=queue,
        message_id=incoming.message_id,
        correlation_id=incoming.correlation_id,
        message_type=incoming.message_type,
        application_number=_application_number(incoming),
    )
    started = time.perf_counter()
    try:
        try:
            outcome = await handler(incoming)
        except MalformedMessage as exc:
            await _answer_malformed(incoming, raw, queue, str(exc), messenger, malformed_reply)
            outcome = Outcome(log={"outcome": "malformed", "parked": True, "error": str(exc)})
        else:
            if outcome.reply is not None:
                await messenger.reply(incoming, outcome.reply)
    except asyncio.CancelledError:
        # Shutdown: leave the delivery unacknowledged so the broker returns it.
        log.warning("message returned unfinished on shutdown", **_took(started))
        raise
    except Exception as exc:
        await _retry_or_park(message, raw, incoming, queue, exc, messenger, retry_base, started)
        return
    await message.ack()
    # structlog reserves "event" for the message text.
    fields = {("step" if key == "event" else key): value for key, value in outcome.log.items()}
    log.info("message processed", **fields, **_took(started))


async def _answer_malformed(
    incoming: Incoming,
    raw: Any,
    queue: str,
    error: str,
    messenger: Messenger,
    malformed_reply: MalformedReply | None,
) -> None:
    if incoming.reply_to and malformed_reply is not None:
        reply = malformed_reply(incoming, error)
        if reply is not None:
            await messenger.reply(incoming, reply)
    await messenger.park(raw, queue, f"malformed_message: {error}")


async def _retry_or_park(
    message: RabbitMessage,
    raw: Any,
    incoming: Incoming,
    queue: str,
    exc: Exception,
    messenger: Messenger,
    retry_base: float,
    started: float,
) -> None:
    error = f"{type(exc).__name__}: {exc}"
    attempt = incoming.delivery_count
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


def _application_number(incoming: Incoming) -> str | None:
    """The number a body names, if it is readable; handlers bind the one they register."""
    try:
        number = incoming.json_object().get("application_number")
    except MalformedMessage:
        return None
    return number if isinstance(number, str) else None
