"""The status service's settings: the common ones plus its HTTP read API (DESIGN.md 7)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.settings import CommonSettings, SettingsError

DEFAULT_HTTP_PORT = 8080


def parse_keys(raw: str) -> frozenset[str]:
    """``STATUS_API_KEYS``: the portals' bearer keys, comma-separated; blanks ignored."""
    return frozenset(key.strip() for key in raw.split(",") if key.strip())


def parse_port(raw: str, variable: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{variable}: expected a port number, got {raw!r}") from None
    if not 0 <= port <= 65535:
        raise SettingsError(f"{variable}: expected a port number, got {raw!r}")
    return port


@dataclass(frozen=True)
class StatusSettings(CommonSettings):
    """Adds ``STATUS_HTTP_HOST``, ``STATUS_HTTP_PORT`` (0: any free port), ``STATUS_API_KEYS``."""

    http_host: str = "127.0.0.1"
    http_port: int = DEFAULT_HTTP_PORT
    api_keys: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def env_values(cls, env: Mapping[str, str] | None = None) -> dict[str, object]:
        env = os.environ if env is None else env
        values = super().env_values(env)
        values["http_host"] = (env.get("STATUS_HTTP_HOST") or "127.0.0.1").strip()
        values["http_port"] = parse_port(
            env.get("STATUS_HTTP_PORT") or str(DEFAULT_HTTP_PORT), "STATUS_HTTP_PORT"
        )
        values["api_keys"] = parse_keys(env.get("STATUS_API_KEYS", ""))
        return values
