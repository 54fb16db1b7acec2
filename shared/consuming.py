"""The rules around every handler: nothing a sender sends can stop a consumer.

``consume`` settles one delivery, whatever it holds:

- a body above ``max_bytes`` is refused ``message_too_large`` and parked without its body;
- a body that cannot be read (not UTF-8 or JSON, too deep, not the expected message) is
  answered ``malformed_message`` when it has a ``reply_to`` and parked with ``x-error``;
- an infrastructure failure (database, broker, network: ``shared.failures``) is retried in
  place with capped backoff for as long as the dependency is down, and never counts;
- any other failure is the message's own: the message goes back to the end of its queue
  with its count (``x-meter-failures``) after a growing pause, and is parked at the
  ``failure_limit``-th failure with the last error;
- on shutdown a message in flight is left unacknowledged, so the broker returns it;
- one log line per message (JSON when not on a terminal), tracebacks included in it.

Nothing is acknowledged before its effect is stored, answered, parked or put back. A
reply goes out as soon as the handler has its outcome; what the outcome still owes
(``Outcome.then``: publishing the events of a stored change) runs after the reply and
before the acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import structlog
from faststream.rabbit.message import RabbitMessage

from shared.contracts.errors import ErrorCode, field_error
from shared.contracts.reading import MalformedMessage, decode_body, malformed_refusal
from shared.contracts.replies import Refused
from shared.delivery import Delivery, Outcome
from shared.failures import backoff, is_infrastructure
from shared.messaging import Messenger, delivery_from
from shared.metrics import REFUSALS, ServiceMetrics
from shared.routes import Route

log = structlog.get_logger("meter.messaging")


@dataclass(frozen=True)
class ConsumePolicy:
    """How one service settles deliveries (from its settings)."""

    failure_limit: int = 5  # parked at this many failures of its own
    retry_base: float = 0.5  # first pause before a failed message is tried again; doubles
    retry_cap: float = 8.0
    outage_base: float = 0.5  # first pause while a dependency is down; doubles
    outage_cap: float = 30.0
    max_bytes: int = 64 * 1024
    metrics: ServiceMetrics | None = None  # counts every delivery settled, and its time


def retry_delay(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Growing pause before a failed message goes back to its queue."""
    return backoff(attempt, base, cap)


async def consume(
    message: RabbitMessage,
    *,
    queue: str,
    route: Route,
    messenger: Messenger,
    policy: ConsumePolicy,
) -> None:
    """Settle one delivery: answer, ack, retry, put back or park — never leave it stuck."""
    raw = message.raw_message
    started = time.perf_counter()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(queue=queue, application_number=None)
    try:
        delivery = delivery_from(raw)
        structlog.contextvars.bind_contextvars(
            message_id=delivery.message_id,
            correlation_id=delivery.correlation_id,
            message_type=delivery.message_type,
            user_id=delivery.user_id,  # the sender RabbitMQ validated: who asked, for audits
        )
        outcome = await _settle(message, raw, delivery, queue, route, messenger, policy)
    except asyncio.CancelledError:
        # Shutdown: leave the delivery unacknowledged so the broker returns it.
        log.warning("message returned unfinished on shutdown", **_took(started))
        raise
    except Exception:
        # Settling itself failed (the broker went away mid-way): give the message back.
        log.exception("message could not be settled; returned to its queue", **_took(started))
        _count(policy, queue, "failed")
        with contextlib.suppress(Exception):  # a closed channel returns it by itself
            await message.reject(requeue=True)
        return
    if outcome is not None:
        _count(policy, queue, _settled_as(outcome))
        # structlog reserves "event" for the message text.
        fields = {("step" if key == "event" else key): value for key, value in outcome.log.items()}
        log.info("message processed", **fields, **_took(started))


async def _settle(
    message: RabbitMessage,
    raw: Any,
    delivery: Delivery,
    queue: str,
    route: Route,
    messenger: Messenger,
    policy: ConsumePolicy,
) -> Outcome | None:
    size = len(raw.body or b"")
    if size > policy.max_bytes:
        error = f"message_too_large: {size} bytes (at most {policy.max_bytes})"
        if delivery.reply_to:
            detail = f"{size} > {policy.max_bytes}"
            too_large = field_error("body", ErrorCode.MESSAGE_TOO_LARGE, "az", detail=detail)
            await messenger.reply(delivery, Refused(errors=[too_large]))
        await messenger.park(raw, queue, error, delivery, keep_body=False)
        await message.ack()
        return Outcome(log={"outcome": "too_large", "parked": True, "bytes": size})
    handling = time.perf_counter()
    try:
        outcome = await _run(raw, delivery, route, policy)
    except MalformedMessage as exc:
        if delivery.reply_to:
            await messenger.reply(delivery, Refused(errors=malformed_refusal(str(exc))))
        await messenger.park(raw, queue, f"malformed_message: {exc}", delivery)
        await message.ack()
        return Outcome(log={"outcome": "malformed", "parked": True, "error": str(exc)})
    except Exception as exc:
        _timed(policy, queue, handling)
        await _fail(message, raw, delivery, queue, exc, messenger, policy)
        return None
    _timed(policy, queue, handling)
    try:
        if outcome.reply is not None:
            await messenger.reply(delivery, outcome.reply)
    finally:  # what the outcome still owes runs even when the reply could not go out
        if outcome.then is not None:
            await outcome.then()
    await message.ack()
    return outcome


async def _run(raw: Any, delivery: Delivery, route: Route, policy: ConsumePolicy) -> Outcome:
    """The route's outcome, waiting out infrastructure failures (they never count)."""
    body = decode_body(bytes(raw.body or b""))
    number = body.get("application_number")
    if isinstance(number, str):
        structlog.contextvars.bind_contextvars(application_number=number[:64])
    outage = 0
    while True:
        try:
            return await route(body, delivery)
        except MalformedMessage:
            raise
        except Exception as exc:
            if not is_infrastructure(exc):
                raise
            pause = backoff(outage, policy.outage_base, policy.outage_cap)
            log_outage = log.warning if outage < 3 or outage % 10 == 0 else log.debug
            log_outage(
                "a dependency does not answer; the message waits",
                error=f"{type(exc).__name__}: {exc}",
                attempt=outage + 1,
                retry_in_s=pause,
            )
            outage += 1
            await asyncio.sleep(pause)


async def _fail(
    message: RabbitMessage,
    raw: Any,
    delivery: Delivery,
    queue: str,
    exc: Exception,
    messenger: Messenger,
    policy: ConsumePolicy,
) -> None:
    """A failure of the message's own: put it back counted, or park it at the limit."""
    error = f"{type(exc).__name__}: {exc}"
    failures = delivery.failures + 1
    if failures >= policy.failure_limit:
        await messenger.park(raw, queue, f"failed {failures} times; last: {error}", delivery)
        await message.ack()
        _count(policy, queue, "parked")
        log.error("message parked", outcome="failed", error=error, failures=failures, exc_info=exc)
        return
    pause = retry_delay(delivery.failures, policy.retry_base, policy.retry_cap)
    log.warning(
        "message failed; will retry",
        outcome="retry",
        error=error,
        attempt=failures,
        retry_in_s=pause,
        exc_info=exc,
    )
    await asyncio.sleep(pause)
    await messenger.retry_later(raw, queue, delivery)
    await message.ack()
    _count(policy, queue, "retried")


def _settled_as(outcome: Outcome) -> str:
    """The ``meter_messages_total`` outcome of a delivery that was answered or parked."""
    label = outcome.log.get("outcome")
    if label in ("malformed", "too_large"):
        return str(label)
    return "refused" if isinstance(outcome.reply, Refused) or label in REFUSALS else "handled"


def _count(policy: ConsumePolicy, queue: str, outcome: str) -> None:
    if policy.metrics is not None:
        policy.metrics.settled(queue, outcome)


def _timed(policy: ConsumePolicy, queue: str, since: float) -> None:
    if policy.metrics is not None:
        policy.metrics.handled_in(queue, time.perf_counter() - since)


def _took(started: float) -> dict[str, float]:
    return {"duration_ms": round((time.perf_counter() - started) * 1000, 2)}
