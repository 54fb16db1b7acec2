"""From one phase's timestamps to its figures, and from runs to medians."""

from __future__ import annotations

from bench.figures import (
    by_fifth,
    by_second,
    deliveries_by_service,
    notifier_scaling,
    phase_figures,
    registration_alone,
    summarise,
)
from bench.follow import Application


def test_a_phase_is_measured_from_its_first_submission_to_its_last_completion() -> None:
    apps = [
        Application(0, submitted=10.0, registered=10.1, number="SQ-2026-000001"),
        Application(1, submitted=10.5, registered=10.7, number="SQ-2026-000002"),
        Application(2, submitted=11.0, registered=11.4, number="SQ-2026-000003"),
    ]
    completed = {"SQ-2026-000001": 11.0, "SQ-2026-000002": 12.0, "SQ-2026-000003": 13.0}
    figures = phase_figures("open-2", 2.0, apps, completed)
    assert figures["submitted_per_s"] == 2.0
    assert figures["lifecycles_per_s"] == 1.0  # 3 in the 3 s from 10.0 to 13.0
    assert figures["registration_ms"]["p50"] == 200.0
    assert figures["submit_to_completed_ms"]["max"] == 2000.0


def test_deliveries_are_summed_per_service_between_two_readings() -> None:
    owner = {"intake.submit_application": "intake", "status.application_events": "status"}
    before = {"intake.submit_application": 5, "unowned": 100}
    after = {"intake.submit_application": 9, "status.application_events": 12, "unowned": 900}
    assert deliveries_by_service(before, after, owner) == {"intake": 4, "status": 12}


def test_the_summary_takes_medians_and_the_pipeline_to_raw_ratio_of_medians() -> None:
    def run(lifecycles: float, pipeline: float, raw: float) -> dict[str, object]:
        return {
            "raw": {"deliveries_per_s": raw},
            "phases": {
                "saturation": {
                    "lifecycles_per_s": lifecycles,
                    "pipeline_deliveries_per_s": pipeline,
                    "cpu_ms_per_lifecycle": {"intake": lifecycles},
                    "db_round_trips_per_lifecycle": {"intake": 9.0, "total": 9.0 + lifecycles},
                    "db_answer_ms_mean": {"intake": lifecycles / 2},
                },
                "open-20": {
                    "db_round_trips_per_lifecycle": {"total": 40.0 + lifecycles},
                    "db_answer_ms_mean": {"intake": 0.5, "status": lifecycles},
                    "cores_busy_while_offered": {"database": lifecycles / 10},
                },
            },
            "peak_rss_mb": {"intake": 60 + lifecycles},
            "notifications": {"expected": 6, "received": 6, "lost": 0, "duplicated": 0},
        }

    summary = summarise([run(4, 100, 1000), run(6, 120, 1000), run(5, 200, 4000)], rates=[20])
    assert summary["lifecycles_per_s"] == 5
    assert summary["pipeline_to_raw"] == 0.12
    assert summary["cpu_ms_per_lifecycle"] == {"intake": 5}
    assert summary["cpu_bound_lifecycles_per_s"] == 400  # 2 cores, 5 ms each
    assert summary["peak_rss_mb"] == {"intake": 66}
    assert summary["notifications"]["expected"] == 18
    assert summary["db_round_trips_total_by_load"] == {"20/s offered": 45, "saturation": 14}
    assert summary["db_answer_ms_mean_by_load"] == {
        "20/s offered": {"intake": 0.5, "status": 5},
        "saturation": {"intake": 2.5},
    }
    assert summary["cores_busy_while_offered_by_load"] == {
        "20/s offered": {"database": 0.5},
        "saturation": {},
    }


def test_notifier_scaling_is_the_median_of_each_runs_ratio_to_one_notifier() -> None:
    def run(one: float, two: float) -> dict[str, object]:
        def drain(rate: float, notifiers: dict[str, float]) -> dict[str, object]:
            return {
                "backlog_lifecycles_per_s": rate,
                "backlog_notifications_per_s": rate * 6,
                "cpu_ms_per_lifecycle": {**notifiers, "database": 10.0},
                "db_round_trips_per_lifecycle": {"notifier": 4.0, "total": 4.0},
            }

        return {
            "phases": {
                "drain-1": drain(one, {"notifier": 30.0}),
                "drain-2": drain(two, {"notifier": 17.0, "notifier-2": 16.0}),
            }
        }

    # A fast machine in one run, a slow one in another: the ratio is taken run by run.
    scaling = notifier_scaling([run(40, 60), run(20, 24), run(30, 42)])
    assert scaling["1"]["backlog_lifecycles_per_s"] == 30
    assert scaling["1"]["to_one_notifier"] is None
    assert scaling["2"]["backlog_lifecycles_per_s"] == 42
    assert scaling["2"]["backlog_notifications_per_s"] == 252
    assert scaling["2"]["to_one_notifier"] == 1.4  # of 1.5, 1.2 and 1.4
    assert scaling["2"]["cpu_ms_per_lifecycle"] == {
        "database": 10,
        "notifier": 17,
        "notifier-2": 16,
    }
    assert notifier_scaling([{"phases": {"saturation": {}}}]) == {}


def test_registration_alone_is_the_median_over_the_runs_of_each_figure() -> None:
    def run(p99: float, intake: float) -> dict[str, object]:
        alone = {
            "registered_per_s": 50.0 - intake,
            "registration_ms": {"p50": p99 / 4, "p95": p99 / 2, "p99": p99},
            "cores_busy_while_offered": {"intake": intake, "database": 0.2},
        }
        return {"phases": {"saturation": {"lifecycles_per_s": 9.0}, "alone-50": alone}}

    alone = registration_alone([run(80, 0.2), run(400, 0.3), run(60, 0.1)])
    assert alone == {
        "50/s offered": {
            "registered_per_s": 49.8,
            "registration_ms": {"p50": 20, "p95": 40, "p99": 80},
            "cores_busy_while_offered": {"database": 0.2, "intake": 0.2},
        }
    }
    assert registration_alone([{"phases": {"saturation": {}}}]) == {}


def test_completions_by_fifth_show_a_system_that_slows_down() -> None:
    steady = [float(t) for t in range(1, 101)]  # one a second from the first submission at 0
    assert by_fifth(0.0, steady) == [1.0, 1.0, 1.0, 1.0, 1.0]
    # The same hundred, the last fifth twice as slow.
    slowing = [*steady[:80], *(80.0 + 2 * n for n in range(1, 21))]
    assert by_fifth(0.0, slowing) == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert by_fifth(0.0, [1.0, 2.0]) == []  # too few to cut in five


def test_registration_by_second_shows_a_backlog_building_up() -> None:
    # Two a second for three seconds; the latency grows by 100 ms with every submission.
    due = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    latency = [0.1 * (k + 1) for k in range(6)]
    rows = by_second(due, latency)
    assert [row[1] for row in rows] == [200.0, 400.0, 600.0]
    assert all(row[0] is not None and row[0] <= row[1] for row in rows)  # type: ignore[operator]
    assert by_second([], []) == []
    # A second with no submission due in it is shown empty, not skipped.
    assert by_second([0.0, 2.2], [0.01, 0.02]) == [[10.0, 10.0], [None, None], [20.0, 20.0]]
