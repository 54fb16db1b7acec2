"""Dispatcher's settings: the common ones plus how often waiting work orders are retried."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.settings import CommonSettings, SettingsError


@dataclass(frozen=True)
class DispatcherSettings(CommonSettings):
    # Seconds between looks for capacity for waiting work orders (a new Baku day, a team
    # imported or changed) and for stock changes a crash left unfinished.
    housekeeping_interval: float = 5.0

    @classmethod
    def env_values(cls, env: Mapping[str, str] | None = None) -> dict[str, object]:
        env = os.environ if env is None else env
        raw = env.get("DISPATCHER_HOUSEKEEPING_INTERVAL") or "5"
        try:
            interval = float(raw)
        except ValueError as exc:
            raise SettingsError(
                f"DISPATCHER_HOUSEKEEPING_INTERVAL: expected seconds, got {raw!r}"
            ) from exc
        if interval <= 0:
            raise SettingsError("DISPATCHER_HOUSEKEEPING_INTERVAL: must be more than 0")
        return {**super().env_values(env), "housekeeping_interval": interval}
