"""Dispatcher's settings from the environment: how often it looks at waiting work orders."""

from __future__ import annotations

import pytest

from services.dispatcher.settings import DispatcherSettings
from shared.settings import SettingsError


def test_housekeeping_runs_every_five_seconds_unless_told_otherwise() -> None:
    assert DispatcherSettings.from_env({}).housekeeping_interval == 5.0
    assert (
        DispatcherSettings.from_env({"DISPATCHER_HOUSEKEEPING_INTERVAL": ""}).housekeeping_interval
        == 5.0
    )


def test_the_interval_is_read_from_its_variable() -> None:
    settings = DispatcherSettings.from_env(
        {"DISPATCHER_HOUSEKEEPING_INTERVAL": "0.25", "PREFETCH": "8"}
    )
    assert settings.housekeeping_interval == 0.25
    assert settings.prefetch == 8


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "nan"])
def test_a_bad_interval_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match="DISPATCHER_HOUSEKEEPING_INTERVAL"):
        DispatcherSettings.from_env({"DISPATCHER_HOUSEKEEPING_INTERVAL": raw})


def test_only_the_dispatcher_variable_is_read_not_one_named_like_the_field() -> None:
    settings = DispatcherSettings.from_env({"HOUSEKEEPING_INTERVAL": "60"})
    assert settings.housekeeping_interval == 5.0
    assert DispatcherSettings(housekeeping_interval=0.2).housekeeping_interval == 0.2
