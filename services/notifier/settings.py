"""The notifier's settings: SMTP and SMS gateway (DESIGN.md sections 6-7), retry policy.

Each field reads the variable of its name in capitals (``smtp_host`` from ``SMTP_HOST``);
an empty variable counts as unset, a bad value is refused naming the variable.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from services.notifier.domain.jobs import RetryPolicy
from shared.settings import CommonSettings

_DEFAULTS = RetryPolicy()
_SECONDS = "seconds, more than 0"


class NotifierSettings(CommonSettings):
    smtp_host: str = Field("localhost", description="the mail server's host name or address")
    smtp_port: int = Field(25, ge=1, le=65535, description="a port number from 1 to 65535")
    smtp_from: str = Field("no-reply@localhost", description="the From header")
    smtp_username: str = Field("", description="the SMTP login, or empty for none")
    smtp_password: str = Field("", description="the SMTP password")
    smtp_starttls: bool = Field(False, description="true or false")
    smtp_timeout: float = Field(15.0, gt=0, description=_SECONDS)
    sms_gateway_url: str = Field("", description="the SMS gateway's URL")
    sms_gateway_token: str = Field("", description="the gateway's bearer token, or empty")
    sms_timeout: float = Field(10.0, gt=0, description=_SECONDS)
    # Transient failures: first retry after base seconds, doubling up to cap; failed after
    # max_attempts (the defaults retry for about 24 hours).
    notify_retry_base: float = Field(_DEFAULTS.base, gt=0, description=_SECONDS)
    notify_retry_cap: float = Field(_DEFAULTS.cap, gt=0, description=_SECONDS)
    notify_max_attempts: int = Field(
        _DEFAULTS.max_attempts, ge=1, description="a whole number, at least 1"
    )
    notify_contact_wait: float = Field(
        _DEFAULTS.contact_wait, ge=0, description="seconds a step waits for its registration"
    )
    notify_poll_interval: float = Field(1.0, gt=0, description=_SECONDS)
    notify_concurrency: int = Field(
        16, ge=1, description="a whole number, at least 1 (notifications sent at once)"
    )

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def retry_policy(self) -> RetryPolicy:
        slowest = max(self.smtp_timeout, self.sms_timeout)
        return RetryPolicy(
            base=self.notify_retry_base,
            cap=self.notify_retry_cap,
            max_attempts=self.notify_max_attempts,
            lease=max(60.0, 4 * slowest),
            contact_wait=self.notify_contact_wait,
            contact_recheck=min(30.0, max(self.notify_poll_interval, self.notify_retry_base)),
            order_recheck=self.notify_poll_interval,
        )
