"""Settings every service reads from the environment (DESIGN.md section 7).

Nothing here runs at import time: services call ``CommonSettings.from_env()`` in their
composition root, and tests build settings objects directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017/?directConnection=true"


class SettingsError(ValueError):
    """A configuration value that cannot be used, with the variable's name in the text."""


def parse_mapping(raw: str, variable: str) -> dict[str, str]:
    """Parse ``a=b,c=d`` into a dict; blank entries are ignored."""
    mapping: dict[str, str] = {}
    for raw_entry in raw.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"{variable}: expected user=channel pairs, got {entry!r}")
        mapping[key.strip()] = value.strip()
    return mapping


def parse_bool(raw: str, variable: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{variable}: expected true or false, got {raw!r}")


@dataclass(frozen=True)
class CommonSettings:
    """What every service needs: where the broker and database are, and how to log."""

    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    mongo_url: str = DEFAULT_MONGO_URL
    log_level: str = "INFO"
    log_format: str = "auto"  # json, console, or auto: console on a terminal, else json
    prefetch: int = 32
    graceful_timeout: float = 20.0
    # First pause before a failed message is retried; it doubles per attempt (capped).
    retry_base_delay: float = 0.5
    channel_users: dict[str, str] = field(default_factory=lambda: {"guest": "e-gov"})
    # Database name prefix: tests give each run its own databases.
    database_prefix: str = ""

    @classmethod
    def env_values(cls, env: Mapping[str, str] | None = None) -> dict[str, object]:
        env = os.environ if env is None else env
        log_format = (env.get("LOG_FORMAT") or "auto").strip().lower()
        if log_format not in {"json", "console", "auto"}:
            raise SettingsError(f"LOG_FORMAT: expected json or console, got {log_format!r}")
        return {
            "rabbitmq_url": env.get("RABBITMQ_URL") or DEFAULT_RABBITMQ_URL,
            "mongo_url": env.get("MONGO_URL") or DEFAULT_MONGO_URL,
            "log_level": (env.get("LOG_LEVEL") or "INFO").upper(),
            "log_format": log_format,
            "prefetch": int(env.get("PREFETCH") or 32),
            "graceful_timeout": float(env.get("GRACEFUL_TIMEOUT") or 20.0),
            "retry_base_delay": float(env.get("RETRY_BASE_DELAY") or 0.5),
            "channel_users": parse_mapping(
                env.get("CHANNEL_USERS", "guest=e-gov"), "CHANNEL_USERS"
            ),
            "database_prefix": env.get("DATABASE_PREFIX", ""),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        return cls(**cls.env_values(env))  # type: ignore[arg-type]

    def database_name(self, service: str) -> str:
        return f"{self.database_prefix}{service}"
