"""The notifier's settings: SMTP and SMS gateway (docs/reference/configuration.md), retry policy.

Each field reads the variable of its name in capitals (``smtp_host`` from ``SMTP_HOST``);
an empty variable counts as unset, a bad value is refused naming the variable.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from services.notifier.domain.jobs import RetryPolicy
from shared.settings import CommonSettings

_DEFAULTS = RetryPolicy()
_SECONDS = "seconds, more than 0"
# How long an outage of the database an attempt's sender outlasts while it stores the outcome
# (docs/reliability.md: ten minutes), before another sender could take the job back.
STORE_OUTAGE = 600.0


class NotifierSettings(CommonSettings):
    smtp_host: str = Field("localhost", description="the mail server's host name or address")
    smtp_port: int = Field(25, ge=1, le=65535, description="a port number from 1 to 65535")
    smtp_from: str = Field("no-reply@localhost", description="the From header")
    smtp_username: str = Field("", description="the SMTP login, or empty for none")
    smtp_password: str = Field("", description="the SMTP password")
    smtp_starttls: bool = Field(False, description="true or false")
    smtp_timeout: float = Field(15.0, gt=0, description=_SECONDS)
    # RFC 5321 section 4.5.3.2: the reply to the end of data may take 10 minutes.
    smtp_data_timeout: float = Field(600.0, gt=0, description=_SECONDS)
    smtp_pool_size: int = Field(
        4, ge=1, description="a whole number, at least 1 (SMTP connections kept open)"
    )
    sms_gateway_url: str = Field(
        "",
        description="the SMS gateway's http:// or https:// URL, or empty",
        pattern=r"^(https?://[^/?#\s]+\S*)?$",
    )
    # Sent in the Authorization header: a character a header cannot carry would fail every
    # SMS, so it is refused at start instead.
    sms_gateway_token: str = Field(
        "",
        description="the gateway's bearer token (printable ASCII, no spaces), or empty",
        pattern=r"^[!-~]*$",
    )
    # Read from this setting only: HTTPS_PROXY and the like are not looked at.
    sms_gateway_proxy: str = Field(
        "",
        description=(
            "the http:// forward proxy (http://[user:password@]host:port) the SMS gateway is "
            "reached through, or empty for a direct connection"
        ),
        pattern=r"^(http://([^/?#\s@]*@)?(\[[0-9A-Fa-f:.]+\]|[^/?#\s@:\[\]]+)(:\d{1,5})?/?)?$",
    )
    sms_timeout: float = Field(
        10.0, gt=0, description="seconds, more than 0, to connect to the gateway and send an SMS"
    )
    # Once an SMS is sent, no answer does not mean it was not taken: sending it again could
    # reach the citizen twice, so the answer is awaited as long as an SMTP end of data.
    sms_answer_timeout: float = Field(
        600.0,
        gt=0,
        description="seconds, more than 0, that the answer to a sent SMS is awaited",
    )
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
    notify_lease: float | None = Field(
        None, gt=0, description="seconds, longer than the longest attempt (or unset)"
    )

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("notify_lease", mode="after")
    @classmethod
    def _outlasts_an_attempt(cls, value: float | None, info: ValidationInfo) -> float | None:
        longest = longest_attempt(info.data)
        if value is not None and value <= longest:
            raise ValueError(f"must be longer than the longest attempt ({longest:g} s)")
        return value

    def lease(self) -> float:
        """How long a claimed job is its sender's: by default the longest attempt plus a
        database outage, so an outcome retried in place is never answered by a resend."""
        if self.notify_lease is not None:
            return self.notify_lease
        return longest_attempt(self.model_dump()) + STORE_OUTAGE

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base=self.notify_retry_base,
            cap=self.notify_retry_cap,
            max_attempts=self.notify_max_attempts,
            lease=self.lease(),
            contact_wait=self.notify_contact_wait,
            contact_recheck=min(30.0, max(self.notify_poll_interval, self.notify_retry_base)),
        )


def longest_attempt(values: dict[str, Any]) -> float:
    """The longest one attempt can take: an e-mail waits for a pooled connection, connects,
    greets, may start TLS and log in, sends MAIL, RCPT and DATA (each within SMTP_TIMEOUT),
    then waits for the end of data; an SMS waits at most three SMS_TIMEOUTs (pool, connect,
    write), then SMS_ANSWER_TIMEOUT for the answer."""
    smtp = float(values.get("smtp_timeout") or 15.0)
    data = float(values.get("smtp_data_timeout") or 600.0)
    sms = float(values.get("sms_timeout") or 10.0)
    answer = float(values.get("sms_answer_timeout") or 600.0)
    return max(9 * smtp + data, 3 * sms + answer)
