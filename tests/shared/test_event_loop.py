"""``EVENT_LOOP``: which event loop ``run_service`` runs a service on."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop
from structlog.testing import capture_logs

from shared.runtime import loop_factory
from shared.settings import CommonSettings


def test_uvloop_is_the_default_and_runs_coroutines() -> None:
    settings = CommonSettings.from_env({})
    assert settings.event_loop == "uvloop"
    factory = loop_factory(settings.event_loop)
    assert factory is uvloop.new_event_loop

    async def which() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.run(which()).startswith("uvloop")


def test_asyncio_asks_for_the_standard_loop() -> None:
    settings = CommonSettings.from_env({"EVENT_LOOP": "asyncio"})
    assert loop_factory(settings.event_loop) is None  # asyncio.Runner's own default


def test_an_unknown_loop_is_refused_with_the_variable_named() -> None:
    with pytest.raises(ValueError, match="EVENT_LOOP"):
        CommonSettings.from_env({"EVENT_LOOP": "trio"})


def test_without_uvloop_installed_the_standard_loop_runs_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    with capture_logs() as logs:
        assert loop_factory("uvloop") is None
    assert [entry["event"] for entry in logs] == [
        "uvloop is not installed: running on the standard asyncio event loop"
    ]
