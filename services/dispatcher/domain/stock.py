"""Meter stock per district: received = reserved + consumed + available, none negative.

Reservations are the application numbers holding a meter, so reserving, consuming and
releasing are idempotent per application; receipts are remembered by message id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.dispatcher.domain.changes import Change, Document

RECEIPTS_KEPT = 200  # stock receipts remembered for idempotent redelivery


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


def reserve(district: str, document: Document | None, number: str) -> Change:
    """Hold one free meter for ``number``; True if it holds one (now or already)."""
    stock = _stock(district, document)
    if number in stock["reservations"]:
        return None, True
    if stock_level(district, stock).available <= 0:
        return None, False
    return {**stock, "reservations": [*stock["reservations"], number]}, True


def release(district: str, document: Document | None, number: str) -> Change:
    """Give ``number``'s meter back to the free stock; True if it held one."""
    stock = _stock(district, document)
    if number not in stock["reservations"]:
        return None, False
    held = [item for item in stock["reservations"] if item != number]
    return {**stock, "reservations": held}, True


def consume(district: str, document: Document | None, number: str) -> Change:
    """Turn ``number``'s reservation into an installed meter; True if it held one."""
    stock = _stock(district, document)
    if number not in stock["reservations"]:
        return None, False
    held = [item for item in stock["reservations"] if item != number]
    return {**stock, "reservations": held, "consumed": stock["consumed"] + 1}, True


def receive(district: str, document: Document | None, quantity: int, receipt: str) -> Change:
    """Add ``quantity`` meters once per ``receipt`` id; the result is the free count."""
    stock = _stock(district, document)
    for seen in stock["receipts"]:
        if seen["message_id"] == receipt:
            return None, int(seen["in_stock"])
    received = {**stock, "received": stock["received"] + quantity}
    available = stock_level(district, received).available
    receipts = [*stock["receipts"], {"message_id": receipt, "in_stock": available}]
    return {**received, "receipts": receipts[-RECEIPTS_KEPT:]}, available
