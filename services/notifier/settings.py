"""The notifier's settings: SMTP and SMS gateway (DESIGN.md sections 6-7), retry policy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.notifier.jobs import RetryPolicy
from shared.settings import CommonSettings, parse_bool

_DEFAULTS = RetryPolicy()


@dataclass(frozen=True)
class NotifierSettings(CommonSettings):
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "no-reply@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout: float = 15.0
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_timeout: float = 10.0
    # Transient failures: first retry after base seconds, doubling up to cap; failed after
    # max_attempts (the defaults retry for about 24 hours).
    notify_retry_base: float = _DEFAULTS.base
    notify_retry_cap: float = _DEFAULTS.cap
    notify_max_attempts: int = _DEFAULTS.max_attempts
    notify_contact_wait: float = _DEFAULTS.contact_wait
    notify_poll_interval: float = 1.0
    notify_concurrency: int = 16

    @classmethod
    def env_values(cls, env: Mapping[str, str] | None = None) -> dict[str, object]:
        env = os.environ if env is None else env
        values = super().env_values(env)
        values.update(
            smtp_host=env.get("SMTP_HOST") or "localhost",
            smtp_port=int(env.get("SMTP_PORT") or 25),
            smtp_from=env.get("SMTP_FROM") or "no-reply@localhost",
            smtp_username=env.get("SMTP_USERNAME", ""),
            smtp_password=env.get("SMTP_PASSWORD", ""),
            smtp_starttls=parse_bool(env.get("SMTP_STARTTLS", ""), "SMTP_STARTTLS"),
            smtp_timeout=float(env.get("SMTP_TIMEOUT") or 15.0),
            sms_gateway_url=env.get("SMS_GATEWAY_URL", ""),
            sms_gateway_token=env.get("SMS_GATEWAY_TOKEN", ""),
            sms_timeout=float(env.get("SMS_TIMEOUT") or 10.0),
            notify_retry_base=float(env.get("NOTIFY_RETRY_BASE") or _DEFAULTS.base),
            notify_retry_cap=float(env.get("NOTIFY_RETRY_CAP") or _DEFAULTS.cap),
            notify_max_attempts=int(env.get("NOTIFY_MAX_ATTEMPTS") or _DEFAULTS.max_attempts),
            notify_contact_wait=float(env.get("NOTIFY_CONTACT_WAIT") or _DEFAULTS.contact_wait),
            notify_poll_interval=float(env.get("NOTIFY_POLL_INTERVAL") or 1.0),
            notify_concurrency=int(env.get("NOTIFY_CONCURRENCY") or 16),
        )
        return values

    def retry_policy(self) -> RetryPolicy:
        slowest = max(self.smtp_timeout, self.sms_timeout)
        return RetryPolicy(
            base=self.notify_retry_base,
            cap=self.notify_retry_cap,
            max_attempts=self.notify_max_attempts,
            lease=max(60.0, 4 * slowest),
            contact_wait=self.notify_contact_wait,
            contact_recheck=min(30.0, max(self.notify_poll_interval, self.notify_retry_base)),
        )
