"""BENCH_* variables: the issue's values by default, every bad value named."""

from __future__ import annotations

import pytest

from bench import embedded_db
from bench.options import OptionError, Options, from_env


def test_without_variables_the_issue_values_are_used() -> None:
    options = from_env({})
    assert options == Options()
    assert (options.applications, options.runs, options.rates) == (2000, 3, (20.0, 50.0))


def test_the_quick_mode_shrinks_open_loop_phases_to_the_applications_asked_for() -> None:
    options = from_env({"BENCH_APPLICATIONS": "200", "BENCH_RUNS": "1"})
    assert options.open_loop_count(20) == 200  # 20/s for 20 s would be 400
    assert options.drain_count() == 200  # so are the notifier-scaling backlogs
    assert options.applications_per_run() == 600 + 200 + 2 * 200  # 200 with the intake alone


def test_several_notifier_processes_can_be_asked_for() -> None:
    assert Options().notifiers == 1
    assert from_env({"BENCH_NOTIFIERS": "2"}).notifiers == 2
    assert Options().notifier_nice == 0
    assert from_env({"BENCH_NOTIFIER_NICE": "10"}).notifier_nice == 10


def test_the_embedded_servers_command_threads_are_its_own_unless_asked_for() -> None:
    assert Options().db_threads == 0
    assert from_env({"BENCH_DB_THREADS": "512"}).db_threads == 512
    per_database = from_env({"BENCH_DB_THREADS": "per-database"}).db_threads
    assert per_database == embedded_db.PER_DATABASE


def test_the_notifier_scaling_backlogs_count_among_a_runs_applications() -> None:
    assert Options().drain == 1000
    options = from_env(
        {
            "BENCH_APPLICATIONS": "200",
            "BENCH_RATES": "none",
            "BENCH_DRAIN": "50",
            "BENCH_ALONE": "0",
        }
    )
    assert options.applications_per_run() == 200 + 2 * 50  # one backlog for 1, one for 2
    assert from_env({"BENCH_DRAIN": "0"}).applications_per_run() == 2000 + 400 + 1000 + 1000


def test_registration_alone_is_offered_at_50_per_second_unless_asked_otherwise() -> None:
    assert Options().alone == 50.0
    assert from_env({"BENCH_ALONE": "30"}).alone == 30.0
    skipped = from_env({"BENCH_ALONE": "none", "BENCH_DRAIN": "0", "BENCH_RATES": "none"})
    assert skipped.alone == 0.0
    assert skipped.applications_per_run() == 2000
    assert from_env({"BENCH_ALONE": "0"}).alone == 0.0


def test_rates_are_read_as_a_comma_separated_list_or_none() -> None:
    assert from_env({"BENCH_RATES": "5, 12.5"}).rates == (5.0, 12.5)
    assert from_env({"BENCH_RATES": "none"}).rates == ()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BENCH_APPLICATIONS", "0"),
        ("BENCH_RUNS", "two"),
        ("BENCH_CONCURRENCY", "-3"),
        ("BENCH_RATES", "20,fast"),
        ("BENCH_RATES", "0,50"),
        ("BENCH_OPEN_SECONDS", "inf"),
        ("BENCH_DB_PROXY", "maybe"),
        ("BENCH_NOTIFIERS", "0"),
        ("BENCH_NOTIFIER_NICE", "20"),
        ("BENCH_NOTIFIER_NICE", "-5"),
        ("BENCH_DB_THREADS", "-1"),
        ("BENCH_DB_THREADS", "wide"),
        ("BENCH_DB_THREADS", "per-db"),
        ("BENCH_DRAIN", "-1"),
        ("BENCH_DRAIN", "many"),
        ("BENCH_ALONE", "-50"),
        ("BENCH_ALONE", "fast"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(OptionError, match=variable):
        from_env({variable: value})
