"""What ``make bench`` prints of registration with the intake alone."""

from __future__ import annotations

from bench import report


def test_registration_alone_prints_each_run_the_median_and_the_cores_busy() -> None:
    runs = [
        {"phases": {"alone-50": {"registration_ms": {"p50": 10.0, "p95": 30.0, "p99": 70.0}}}},
        {"phases": {"alone-50": {"registration_ms": {"p50": 12.0, "p95": 50.0, "p99": 90.0}}}},
    ]
    summary = {
        "50/s offered": {
            "registered_per_s": 49.9,
            "registration_ms": {"p50": 11.0, "p95": 40.0, "p99": 80.0},
            "cores_busy_while_offered": {"broker": 0.25, "intake": 0.5, "status": None},
        }
    }
    lines = report._alone(runs, summary)
    assert lines[0] == (
        "at 50/s offered with the intake alone (dispatcher, notifiers, status stopped; "
        "registered 49.9/s)"
    )
    assert lines[3].split() == ["registration", "p99", "ms", "70", "90", "80"]
    assert lines[4] == "  cores busy: broker 0.25, intake 0.50; all 0.75"
    assert report._alone(runs, {}) == []
