"""The notifier reads the SMTP and SMS variables of docs/reference/configuration.md."""

from __future__ import annotations

import pytest

from services.notifier.settings import NotifierSettings
from shared.settings import SettingsError


def test_smtp_and_sms_settings_come_from_the_environment() -> None:
    settings = NotifierSettings.from_env(
        {
            "SMTP_HOST": "mail.example.az",
            "SMTP_PORT": "587",
            "SMTP_FROM": "Su <no-reply@su.az>",
            "SMTP_USERNAME": "notifier",
            "SMTP_PASSWORD": "secret",
            "SMTP_STARTTLS": "true",
            "SMS_GATEWAY_URL": "http://127.0.0.1:9000/messages",
            "SMS_GATEWAY_TOKEN": "token",
            "NOTIFY_MAX_ATTEMPTS": "5",
        }
    )
    assert isinstance(settings, NotifierSettings)
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "mail.example.az",
        587,
        True,
    )
    assert settings.smtp_from == "Su <no-reply@su.az>"
    assert (settings.smtp_username, settings.smtp_password) == ("notifier", "secret")
    assert settings.sms_gateway_url == "http://127.0.0.1:9000/messages"
    assert settings.sms_gateway_token == "token"
    assert settings.retry_policy().max_attempts == 5


def test_without_variables_the_defaults_retry_for_about_a_day() -> None:
    settings = NotifierSettings.from_env({})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "localhost",
        25,
        False,
    )
    assert settings.sms_gateway_url == ""
    policy = settings.retry_policy()
    assert policy.max_attempts == 56
    assert policy.lease > max(settings.smtp_timeout, settings.sms_timeout)


def test_a_bad_starttls_value_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="SMTP_STARTTLS"):
        NotifierSettings.from_env({"SMTP_STARTTLS": "maybe"})


def test_every_notifier_variable_is_read_with_its_default_when_unset_or_empty() -> None:
    defaults = NotifierSettings.from_env({"SMTP_HOST": "", "NOTIFY_CONCURRENCY": ""})
    assert (defaults.smtp_from, defaults.smtp_timeout, defaults.sms_timeout) == (
        "no-reply@localhost",
        15.0,
        10.0,
    )
    assert (defaults.smtp_host, defaults.smtp_username, defaults.sms_gateway_token) == (
        "localhost",
        "",
        "",
    )
    assert (defaults.notify_retry_base, defaults.notify_retry_cap) == (10.0, 1800.0)
    assert (defaults.notify_contact_wait, defaults.notify_poll_interval) == (7 * 86400.0, 1.0)
    assert defaults.notify_concurrency == 16
    settings = NotifierSettings.from_env(
        {
            "SMTP_TIMEOUT": "3.5",
            "SMS_TIMEOUT": "2",
            "NOTIFY_RETRY_BASE": "0.5",
            "NOTIFY_RETRY_CAP": "60",
            "NOTIFY_CONTACT_WAIT": "3600",
            "NOTIFY_POLL_INTERVAL": "0.25",
            "NOTIFY_CONCURRENCY": "4",
            "SMTP_STARTTLS": " Yes ",
        }
    )
    assert (settings.smtp_timeout, settings.sms_timeout) == (3.5, 2.0)
    assert (settings.notify_poll_interval, settings.notify_concurrency) == (0.25, 4)
    assert settings.smtp_starttls is True
    policy = settings.retry_policy()
    assert (policy.base, policy.cap, policy.contact_wait) == (0.5, 60.0, 3600.0)
    assert policy.contact_recheck == 0.5
    # The longest attempt (9 SMTP commands and the end-of-data wait) plus a store outage.
    assert policy.lease == 9 * 3.5 + 600 + 600


def test_smtp_waits_ten_minutes_for_the_end_of_data_and_the_lease_outlasts_it() -> None:
    defaults = NotifierSettings.from_env({})
    assert (defaults.smtp_data_timeout, defaults.smtp_pool_size) == (600.0, 4)
    assert defaults.retry_policy().lease == 9 * 15 + 600 + 600
    chosen = NotifierSettings.from_env(
        {"SMTP_DATA_TIMEOUT": "30", "SMTP_POOL_SIZE": "2", "NOTIFY_LEASE": "900"}
    )
    assert (chosen.smtp_data_timeout, chosen.smtp_pool_size) == (30.0, 2)
    assert chosen.retry_policy().lease == 900.0


def test_the_sms_gateway_may_be_any_http_or_https_url() -> None:
    for url in ("http://127.0.0.1:8025/sms", "https://sms.example.az/v1/send?account=7"):
        assert NotifierSettings.from_env({"SMS_GATEWAY_URL": url}).sms_gateway_url == url


def test_a_gateway_token_is_any_printable_ascii_without_spaces() -> None:
    token = "eyJhbGciOi.JIUzI1-NiJ9_~+/="
    assert NotifierSettings.from_env({"SMS_GATEWAY_TOKEN": token}).sms_gateway_token == token


def test_the_sms_gateway_proxy_is_an_http_url_with_optional_credentials() -> None:
    assert NotifierSettings.from_env({}).sms_gateway_proxy == ""
    for proxy in (
        "http://proxy.example:3128",
        "http://meter:p%40ss@10.0.0.1:8080/",
        "http://[::1]:3128",
    ):
        assert NotifierSettings.from_env({"SMS_GATEWAY_PROXY": proxy}).sms_gateway_proxy == proxy


def test_a_refused_proxy_is_shown_without_its_password() -> None:
    with pytest.raises(SettingsError, match="SMS_GATEWAY_PROXY") as refused:
        NotifierSettings.from_env({"SMS_GATEWAY_PROXY": "https://meter:secret@proxy:3128"})
    assert "secret" not in str(refused.value)


def test_a_lease_shorter_than_the_longest_attempt_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"NOTIFY_LEASE.*longest attempt \(735 s\)"):
        NotifierSettings.from_env({"NOTIFY_LEASE": "700"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMTP_PORT", "smtp"),
        ("SMTP_PORT", "70000"),
        ("SMTP_TIMEOUT", "0"),
        ("SMS_TIMEOUT", "soon"),
        ("NOTIFY_RETRY_BASE", "-1"),
        ("NOTIFY_RETRY_CAP", "x"),
        ("NOTIFY_MAX_ATTEMPTS", "0"),
        ("NOTIFY_CONTACT_WAIT", "a week"),
        ("NOTIFY_POLL_INTERVAL", "0"),
        ("NOTIFY_CONCURRENCY", "1.5"),
        ("SMTP_DATA_TIMEOUT", "0"),
        ("SMTP_POOL_SIZE", "0"),
        ("NOTIFY_LEASE", "-5"),
        ("SMS_GATEWAY_URL", "gateway.example/sms"),
        ("SMS_GATEWAY_URL", "ftp://gateway.example/sms"),
        ("SMS_GATEWAY_URL", "http:///sms"),
        ("SMS_GATEWAY_TOKEN", "abc\r\nX-Injected: 1"),
        ("SMS_GATEWAY_TOKEN", "two words"),
        ("SMS_GATEWAY_TOKEN", "tokén"),
        ("SMS_GATEWAY_PROXY", "https://proxy.example:3128"),
        ("SMS_GATEWAY_PROXY", "socks5://proxy.example:1080"),
        ("SMS_GATEWAY_PROXY", "proxy.example:3128"),
        ("SMS_GATEWAY_PROXY", "http://proxy.example:3128/path"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        NotifierSettings.from_env({variable: value})
