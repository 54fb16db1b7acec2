"""How many SMS parts a text takes, GSM-7 or UCS-2 as its letters require (pure).

GSM-7 (3GPP TS 23.038 default alphabet): 160 septets in one part, 153 per part of a
concatenated message; the extension table's characters take two septets (escape + char).
Any other letter (ə ğ ı ş İ, Cyrillic, ...) makes the message UCS-2: 70 UTF-16 code units
in one part, 67 per part. An escape pair or a surrogate pair is never split between parts.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
LIMITS: dict[Encoding, tuple[int, int]] = {"gsm7": (160, 153), "ucs2": (70, 67)}
MAX_PARTS = 3


def encoding(text: str) -> Encoding:
    gsm = GSM7_BASIC | GSM7_EXTENSION
    return "gsm7" if all(char in gsm for char in text) else "ucs2"


def _units(char: str, kind: Encoding) -> int:
    if kind == "gsm7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def length(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) the text takes."""
    kind = encoding(text)
    return sum(_units(char, kind) for char in text)


def parts(text: str) -> int:
    """The number of SMS parts ``text`` is sent in (an empty text still takes one)."""
    kind = encoding(text)
    single, per_part = LIMITS[kind]
    if length(text) <= single:
        return 1
    count, used = 1, 0
    for char in text:
        units = _units(char, kind)
        if used + units > per_part:
            count, used = count + 1, 0
        used += units
    return count


def fit(text: str, keep: str, max_parts: int = MAX_PARTS) -> str:
    """``text`` shortened to ``max_parts`` parts if needed, still naming ``keep``."""
    if parts(text) <= max_parts:
        return text
    shortened = _cut(text, max_parts)
    if keep in shortened:
        return shortened
    rest = text.replace(keep, "").strip(" :.,")
    return _cut(f"{keep}: {rest}", max_parts)


def _cut(text: str, max_parts: int) -> str:
    # "…" is not GSM-7: a GSM-7 text is cut with "..." so it stays GSM-7.
    ellipsis = "…" if encoding(text) == "ucs2" else "..."
    if parts(text) <= max_parts:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if parts(text[:middle] + ellipsis) <= max_parts:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ellipsis
