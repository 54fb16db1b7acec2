"""Which failures are the infrastructure's and which are a message's own.

An infrastructure failure (the database, the broker, the network or a provider does not
answer) says nothing about the message: it is retried in place with capped backoff, as long
as the dependency is down, and never brings the message closer to parking. Any other
failure is the message's own and counts towards parking.
"""

from __future__ import annotations

import asyncio

import aiormq.exceptions
import pymongo.errors

# Error codes MongoDB gives while a replica set elects or a node shuts down.
_TRANSIENT_MONGO_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)


def is_infrastructure(exc: BaseException) -> bool:
    """True when ``exc`` means a dependency did not answer, not that the message is bad."""
    if isinstance(exc, pymongo.errors.ConnectionFailure | pymongo.errors.WaitQueueTimeoutError):
        return True
    if isinstance(exc, pymongo.errors.OperationFailure):
        return exc.code in _TRANSIENT_MONGO_CODES or exc.has_error_label("RetryableWriteError")
    if isinstance(
        exc, aiormq.exceptions.AMQPConnectionError | aiormq.exceptions.ChannelInvalidStateError
    ):
        return True
    return isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | OSError)


def backoff(attempt: int, base: float, cap: float) -> float:
    """The pause before attempt ``attempt + 1``: doubling from ``base``, at most ``cap``."""
    return float(min(cap, base * (2 ** min(attempt, 32))))
