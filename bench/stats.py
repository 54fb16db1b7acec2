"""Percentiles and medians: the arithmetic behind every figure the benchmark prints (pure)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation between ranks; None if empty.

    The same definition as numpy's default, so figures can be checked by hand: p50 of
    ``[1, 2, 3, 4]`` is 2.5, and p100 is the largest value.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """p50, p95, p99 and max in milliseconds, with the sample count."""

    def ms(q: float) -> float | None:
        value = percentile(seconds, q)
        return None if value is None else round(value * 1000, 1)

    return {"count": len(seconds), "p50": ms(50), "p95": ms(95), "p99": ms(99), "max": ms(100)}


def median_of(values: Iterable[float | None]) -> float | None:
    """The median of the values that were measured (None where a run had none)."""
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def per_second(count: int, seconds: float) -> float | None:
    return count / seconds if seconds > 0 else None
