"""The status service reads its HTTP settings from the environment
(docs/reference/configuration.md)."""

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


def test_only_the_status_variables_are_read_not_variables_named_like_the_fields() -> None:
    settings = StatusSettings.from_env(
        {"HTTP_PORT": "9090", "HTTP_HOST": "0.0.0.0", "API_KEYS": "someone-elses-key"}
    )

    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)
    assert settings.api_keys == frozenset()


def test_tests_may_give_the_settings_by_field_name() -> None:
    settings = StatusSettings(http_port=0, api_keys=frozenset({"k"}), http_host=" ::1 ")

    assert (settings.http_host, settings.http_port, settings.api_keys) == (
        "::1",
        0,
        frozenset({"k"}),
    )


def test_the_applications_kept_written_default_to_4096_and_are_bounded() -> None:
    assert StatusSettings.from_env({}).cached_applications == 4096
    assert StatusSettings.from_env({"STATUS_CACHED_APPLICATIONS": "20000"}).cached_applications == (
        20000
    )
    for wrong in ("-1", "lots", "2000000"):
        with pytest.raises(SettingsError, match="STATUS_CACHED_APPLICATIONS"):
            StatusSettings.from_env({"STATUS_CACHED_APPLICATIONS": wrong})
