"""Time in the utility's zone: numbers, capacity days and texts use Asia/Baku."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

BAKU = ZoneInfo("Asia/Baku")


def utc_now() -> datetime:
    return datetime.now(UTC)


def baku(moment: datetime) -> datetime:
    """The same instant in Asia/Baku time (naive datetimes from MongoDB are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BAKU)


def iso(moment: datetime) -> str:
    """ISO 8601 with the Asia/Baku offset, as events and views show time."""
    return baku(moment).isoformat(timespec="milliseconds")


def stamp(moment: datetime | None = None) -> str:
    """A sortable UTC timestamp for storage (``2026-11-27T02:28:43.805Z``).

    Stored as text: it sorts like time on MongoDB and on the embedded server alike.
    """
    moment = moment or utc_now()
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
