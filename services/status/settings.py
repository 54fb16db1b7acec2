"""The status service's settings: the common ones plus its HTTP read API
(docs/reference/configuration.md)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings, parse_list

DEFAULT_HTTP_PORT = 8080
DEFAULT_CACHED = 4096  # an application's burst of events under way, not its life


class StatusSettings(CommonSettings):
    """Adds ``STATUS_HTTP_HOST``, ``STATUS_HTTP_PORT`` (0: any free port), ``STATUS_API_KEYS``
    and ``STATUS_CACHED_APPLICATIONS``."""

    http_host: str = Field(
        "127.0.0.1",
        validation_alias="STATUS_HTTP_HOST",
        description="the address the HTTP API listens on",
    )
    http_port: int = Field(
        DEFAULT_HTTP_PORT,
        ge=0,
        le=65535,
        validation_alias="STATUS_HTTP_PORT",
        description="a port number from 0 to 65535 (0: any free port)",
    )
    cached_applications: int = Field(
        DEFAULT_CACHED,
        ge=0,
        le=1_000_000,
        validation_alias="STATUS_CACHED_APPLICATIONS",
        description=(
            "a whole number from 0 to 1000000: the applications whose last written document "
            "a process keeps in memory, so that their next event costs no read"
        ),
    )
    api_keys: Annotated[frozenset[str], NoDecode] = Field(
        default_factory=frozenset,
        validation_alias="STATUS_API_KEYS",
        description="the portals' bearer keys, separated by commas",
    )

    @field_validator("http_host", mode="before")
    @classmethod
    def _trimmed(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        return parse_list(value) if isinstance(value, str) else value
