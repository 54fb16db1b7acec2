"""Both variants run every scenario issue 11 names; only the full one waits out 5 minutes."""

from __future__ import annotations

from faults.plan import FULL, QUICK, Plan
from faults.scenarios import scenarios

NAMED = (
    "intake SIGKILLed",
    "dispatcher SIGKILLed",
    "notifier SIGKILLed",
    "status SIGKILLed",
    "SIGTERM to all during slow handlers",
    "broker stop_app",
    "broker killed",
    "MongoDB killed for 10 s",
    "SMTP down",
    "SMTP answers after",
    "SMS gateway down",
    "SMS gateway answers after",
    "every delivery twice, shuffled",
    "poison bodies",
    "backlog of",
)


def names(plan: Plan) -> list[str]:
    return [scenario.name for scenario in scenarios(plan)]


def test_each_variant_has_every_scenario_of_the_issue() -> None:
    for plan in (QUICK, FULL):
        found = names(plan)
        assert [named for named in NAMED if not any(named in n for n in found)] == []


def test_only_the_full_variant_keeps_mongodb_down_for_five_minutes() -> None:
    assert "MongoDB killed for 5 min" in names(FULL)
    assert "MongoDB killed for 5 min" not in names(QUICK)
    assert FULL.backlog == 1000
    assert FULL.apps >= 300


def test_only_the_notifier_kill_is_the_crash_window() -> None:
    windows = [s.name for s in scenarios(FULL) if s.crash_window]
    assert windows == ["notifier SIGKILLed ×3, restarted"]


def test_a_slow_provider_answers_later_than_the_old_fifteen_second_smtp_timeout() -> None:
    assert QUICK.slow_answer > 15
    assert FULL.slow_answer > 15


def test_the_backlog_gets_proportionally_longer_to_drain() -> None:
    assert QUICK.recovery_for(QUICK.apps) == QUICK.recovery_limit
    assert QUICK.recovery_for(QUICK.backlog) > QUICK.recovery_limit
    assert FULL.recovery_for(FULL.backlog) == FULL.recovery_limit * FULL.backlog / FULL.apps
