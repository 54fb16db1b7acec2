"""Meter stock per district: received = reserved + consumed + available, none negative.

Reservations are the application numbers holding a meter, so reserving, consuming and
releasing are idempotent per application; the list never holds more numbers than meters
were received. Receipts are remembered by message id for ``RECEIPTS_KEPT_FOR`` (the
contract promises 7 days of deduplication, docs/reliability.md): each write of the
district's document drops older ones, so the list is bounded by time, not by a count a
burst of receipts could exceed.

The document also keeps the free count, ``available`` (received − reserved − consumed),
so the store can reserve, consume and release with one conditional update each (reserve
only while ``available`` > 0). Every document these functions write carries it, counted
afresh from the other fields; one written before it existed lacks it until its next whole
write. ``stock_level`` never reads it: reserved is the number of reservations, and
available what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.dispatcher.domain.changes import Change, Document
from shared.clock import stamp

# Receipts remembered for a redelivered or resent receipt: 7 days promised, one spare.
RECEIPTS_KEPT_FOR = timedelta(days=8)


@dataclass(frozen=True)
class Receipt:
    """What receiving stock answers: the free meters now, and whether it counted."""

    in_stock: int
    counted: bool  # False: this receipt was counted before, nothing was added


@dataclass(frozen=True)
class StockLevel:
    district_code: str
    received: int
    reserved: int
    consumed: int

    @property
    def available(self) -> int:
        return self.received - self.reserved - self.consumed


def stock_level(district: str, document: Mapping[str, Any] | None) -> StockLevel:
    document = document or {}
    return StockLevel(
        district_code=district,
        received=int(document.get("received") or 0),
        reserved=len(document.get("reservations") or []),
        consumed=int(document.get("consumed") or 0),
    )


def _stock(district: str, document: Mapping[str, Any] | None) -> Document:
    base = {"_id": district, "received": 0, "consumed": 0, "reservations": [], "receipts": []}
    return {**base, **(document or {})}


def _counted(stock: Document) -> Document:
    """``stock`` as written whole: with ``available`` counted from the other fields."""
    return {**stock, "available": stock_level(stock["_id"], stock).available}


def reserve(district: str, document: Document | None, number: str) -> Change:
    """Hold one free meter for ``number``; True if it holds one (now or already)."""
    stock = _stock(district, document)
    if number in stock["reservations"]:
        return None, True
    if stock_level(district, stock).available <= 0:
        return None, False
    return _counted({**stock, "reservations": [*stock["reservations"], number]}), True


def release(district: str, document: Document | None, number: str) -> Change:
    """Give ``number``'s meter back to the free stock; True if it held one."""
    stock = _stock(district, document)
    if number not in stock["reservations"]:
        return None, False
    held = [item for item in stock["reservations"] if item != number]
    return _counted({**stock, "reservations": held}), True


def consume(district: str, document: Document | None, number: str) -> Change:
    """Turn ``number``'s reservation into an installed meter; True if it held one."""
    stock = _stock(district, document)
    if number not in stock["reservations"]:
        return None, False
    held = [item for item in stock["reservations"] if item != number]
    return _counted({**stock, "reservations": held, "consumed": stock["consumed"] + 1}), True


def receive(
    district: str, document: Document | None, quantity: int, receipt: str, at: datetime
) -> Change:
    """Add ``quantity`` meters once per ``receipt`` id, received at ``at``.

    The result is a ``Receipt`` with the free meters now: a receipt seen before adds
    nothing and answers the current free count, not the one it got the first time.
    """
    stock = _stock(district, document)
    if any(seen["message_id"] == receipt for seen in stock["receipts"]):
        return None, Receipt(stock_level(district, stock).available, counted=False)
    received = {**stock, "received": stock["received"] + quantity}
    available = stock_level(district, received).available
    kept = recent_receipts(stock["receipts"], at)
    receipts = [*kept, {"message_id": receipt, "at": stamp(at)}]
    return _counted({**received, "receipts": receipts}), Receipt(available, counted=True)


def recent_receipts(receipts: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The receipts received within ``RECEIPTS_KEPT_FOR`` of ``now``.

    Receipts stored before they carried a time are kept, timed ``now``, for the full span.
    """
    oldest = stamp(now - RECEIPTS_KEPT_FOR)
    timed = [{**seen, "at": seen.get("at") or stamp(now)} for seen in receipts]
    return [seen for seen in timed if seen["at"] >= oldest]
