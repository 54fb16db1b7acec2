"""Intake's settings: the common ones plus who the portals are."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings, parse_mapping


class IntakeSettings(CommonSettings):
    """``CHANNEL_USERS``: the broker user of each portal and its channel."""

    channel_users: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"guest": "e-gov"},
        description="broker user=channel pairs separated by commas",
    )

    @field_validator("channel_users", mode="before")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        return parse_mapping(value, "CHANNEL_USERS") if isinstance(value, str) else value
