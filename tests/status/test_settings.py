"""The status service reads its HTTP settings from the environment (DESIGN.md 7)."""

from __future__ import annotations

import pytest

from services.status.settings import StatusSettings
from shared.settings import SettingsError


def test_the_port_defaults_to_8080_and_without_keys_nobody_is_admitted() -> None:
    settings = StatusSettings.from_env({})

    assert settings.http_port == 8080
    assert settings.api_keys == frozenset()


def test_keys_are_comma_separated_and_blanks_ignored() -> None:
    settings = StatusSettings.from_env(
        {"STATUS_API_KEYS": " egov-key, ,esu-key ", "STATUS_HTTP_PORT": "9090"}
    )

    assert settings.api_keys == {"egov-key", "esu-key"}
    assert settings.http_port == 9090


@pytest.mark.parametrize("port", ["http", "70000"])
def test_a_port_that_is_not_one_is_refused_by_name(port: str) -> None:
    with pytest.raises(SettingsError, match="STATUS_HTTP_PORT"):
        StatusSettings.from_env({"STATUS_HTTP_PORT": port})
