"""Dispatcher's settings: the common ones plus how often waiting work orders are retried."""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class DispatcherSettings(CommonSettings):
    """Adds ``DISPATCHER_HOUSEKEEPING_INTERVAL``: seconds between looks for capacity for
    waiting work orders (a new Baku day, a team imported or changed) and for stock changes
    a crash left unfinished."""

    housekeeping_interval: float = Field(
        5.0,
        gt=0,
        validation_alias="DISPATCHER_HOUSEKEEPING_INTERVAL",
        description="seconds, more than 0, between looks at waiting work orders",
    )
