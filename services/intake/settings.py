"""Intake's settings: the common ones are all it needs (``CHANNEL_USERS`` among them)."""

from __future__ import annotations

from shared.settings import CommonSettings


class IntakeSettings(CommonSettings):
    """Intake learns a submission's channel from its sender through ``CHANNEL_USERS``."""
