"""The notifier reads the SMTP and SMS variables of DESIGN.md section 7."""

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
