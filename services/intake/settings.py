"""Intake's settings: the common ones (DESIGN.md section 7) are all it needs."""

from __future__ import annotations

from shared.settings import CommonSettings


class IntakeSettings(CommonSettings):
    """Intake reads ``CHANNEL_USERS`` to learn a submission's channel from its sender."""
