"""The arithmetic behind the benchmark's figures."""

from __future__ import annotations

import pytest

from bench.stats import latency_summary, median_of, percentile


def test_a_percentile_interpolates_between_ranks_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_a_percentile_of_nothing_is_none_and_out_of_range_is_refused() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0], 101)


def test_latency_summary_turns_seconds_into_rounded_milliseconds() -> None:
    summary = latency_summary([0.010, 0.020, 0.030, 0.040, 1.0])
    assert summary == {"count": 5, "p50": 30.0, "p95": 808.0, "p99": 961.6, "max": 1000.0}


def test_the_median_over_runs_skips_runs_without_the_figure() -> None:
    assert median_of([3.0, None, 1.0, 2.0]) == 2.0
    assert median_of([None, None]) is None
