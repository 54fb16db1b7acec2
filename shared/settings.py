"""Settings every service reads from the environment, with pydantic-settings.

Nothing here runs at import time: a service calls ``Settings.from_env()`` in its
``__main__``, and tests build settings objects directly. A bad value is refused at start
with the variable's name, what was given and what is expected (``SettingsError``).
An empty variable counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from shared import tls
from shared.senders import Senders, check_channels, parse_teams, parse_users

DEFAULT_RABBITMQ_URL = "amqp://guest:guest@localhost:5672/"
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017/?directConnection=true"
# Where each service serves /health, /ready and /metrics unless HEALTH_PORT says otherwise.
HEALTH_PORTS = {"intake": 9101, "dispatcher": 9102, "notifier": 9103, "status": 9104}

# The environment ``from_env`` reads instead of ``os.environ`` (tests pass a mapping).
_ENVIRONMENT: ContextVar[Mapping[str, str] | None] = ContextVar("settings_env", default=None)


class SettingsError(ValueError):
    """Configuration that cannot be used; the text names each variable and what it expects."""


def parse_mapping(raw: str, variable: str = "") -> dict[str, str]:
    """Parse ``a=b,c=d`` into a dict; blank entries are ignored."""
    mapping: dict[str, str] = {}
    for raw_entry in raw.split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{entry!r} is not a name=value pair")
        mapping[key.strip()] = value.strip()
    return mapping


def parse_list(raw: str) -> frozenset[str]:
    """Comma-separated values; blanks ignored."""
    return frozenset(item.strip() for item in raw.split(",") if item.strip())


class _VariablesEnvSource(EnvSettingsSource):
    """The environment, read for a renamed setting only from its own variable.

    pydantic-settings would also read a field given a variable name (an alias) from the
    field's name (``http_port`` from ``HTTP_PORT``): a variable meant for something else
    must change nothing here.
    """

    def _extract_field_info(
        self, field: FieldInfo, field_name: str, model_config: Mapping[str, Any] | None = None
    ) -> list[tuple[str, str, bool]]:
        found = super()._extract_field_info(field, field_name, model_config)
        if field.validation_alias is None:
            return found
        return [entry for entry in found if entry[0] != field_name]


class _MappingEnvSource(_VariablesEnvSource):
    """The environment source, reading a given mapping instead of ``os.environ``."""

    def __init__(self, settings_cls: type[BaseSettings], environment: Mapping[str, str]) -> None:
        self._environment = environment
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            dict(self._environment),
            self.case_sensitive,
            self.env_ignore_empty,
            self.env_parse_none_str,
        )


class CommonSettings(BaseSettings):
    """What every service needs: where the broker and database are, and how to log."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    # TLS (shared.tls): declared before the URLs, whose validators add them to the URLs.
    rabbitmq_ca_file: str = Field(
        "", description="the path of a CA certificate file (PEM) for amqps:// URLs, or empty"
    )
    mongo_ca_file: str = Field(
        "", description="the path of a CA certificate file (PEM) for MongoDB TLS, or empty"
    )
    # Several URLs, separated by commas, name the nodes of one cluster: a service connects
    # to the first that answers and fails over to the next when its connection drops
    # (shared.failover). They should differ only in host and port.
    rabbitmq_url: str = Field(
        DEFAULT_RABBITMQ_URL,
        description="an amqp:// or amqps:// URL (its vhost is honoured), or the URLs of a "
        "cluster's nodes separated by commas",
        pattern=r"^amqps?://",
    )
    mongo_url: str = Field(
        DEFAULT_MONGO_URL,
        description="a mongodb:// or mongodb+srv:// URL",
        pattern=r"^mongodb(\+srv)?://",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL"
    )
    log_format: Literal["json", "console", "auto"] = Field(
        "auto", description="json, console, or auto (console on a terminal, else json)"
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop",
        description="uvloop (libuv's event loop: less CPU per message; the standard loop where "
        "uvloop is not installed) or asyncio (the standard library's)",
    )
    # 128 rather than 32: more deliveries in flight make bigger batches of database writes
    # (docs/performance.md, "Prefetch 128").
    prefetch: int = Field(
        128, ge=1, le=65535, description="a whole number from 1 to 65535 (unacknowledged messages)"
    )
    graceful_timeout: float = Field(
        20.0, gt=0, description="seconds, more than 0, that in-flight messages get on shutdown"
    )
    # First pause before a failed message is retried; it doubles per attempt (capped).
    retry_base_delay: float = Field(0.5, gt=0, description="seconds, more than 0")
    max_message_bytes: int = Field(
        64 * 1024,
        ge=1024,
        le=128 * 1024 * 1024,
        description="bytes, from 1024 to 134217728: larger messages are refused and parked",
    )
    # Who may send what (shared.senders); the local run maps guest to every role.
    channel_users: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=lambda: {"guest": "e-gov"},
        description="portal broker user=channel pairs separated by commas "
        "(channels e-gov, azersu, e-su)",
    )
    field_users: Annotated[dict[str, frozenset[str]], NoDecode] = Field(
        default_factory=lambda: {"guest": frozenset({"*"})},
        description="field-app broker user=TEAM|TEAM (or user=*) pairs separated by commas",
    )
    ops_users: Annotated[frozenset[str], NoDecode] = Field(
        default_factory=lambda: frozenset({"guest"}),
        description="operations broker users separated by commas",
    )
    # Database name prefix: tests give each run its own databases.
    database_prefix: str = Field("", description="a prefix for database names")
    # Liveness, readiness and Prometheus metrics (shared.health), one port per service.
    health_host: str = Field(
        "127.0.0.1",
        description="the address /health, /ready and /metrics listen on (0.0.0.0 in containers)",
    )
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="the port of /health, /ready and /metrics, from 0 to 65535 (0: any free "
        "port); unset: intake 9101, dispatcher 9102, notifier 9103, status 9104",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case_insensitive(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        lowered = value.strip().lower()
        return (
            lowered.upper()
            if lowered in {"debug", "info", "warning", "error", "critical"}
            else lowered
        )

    @field_validator("rabbitmq_url", mode="after")
    @classmethod
    def _addresses(cls, value: str) -> str:
        addresses = [part.strip() for part in value.split(",") if part.strip()]
        for address in addresses:
            if not address.startswith(("amqp://", "amqps://")):
                raise ValueError(f"{without_password(address)!r} is not an amqp:// URL")
        return ",".join(addresses)

    @field_validator("health_host", mode="before")
    @classmethod
    def _host(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("rabbitmq_ca_file", "mongo_ca_file", mode="after")
    @classmethod
    def _ca_file(cls, value: str) -> str:
        if value and not os.path.isfile(value):
            raise ValueError("no such file")
        return value

    @field_validator("rabbitmq_url", "mongo_url", mode="after")
    @classmethod
    def _with_ca_file(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "mongo_url":
            return tls.mongo_url(value, info.data.get("mongo_ca_file") or "")
        return tls.amqp_url(value, info.data.get("rabbitmq_ca_file") or "")

    @field_validator("channel_users", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> Any:
        return check_channels(parse_mapping(value) if isinstance(value, str) else value)

    @field_validator("field_users", mode="before")
    @classmethod
    def _teams(cls, value: Any) -> Any:
        return parse_teams(value) if isinstance(value, str) else value

    @field_validator("ops_users", mode="before")
    @classmethod
    def _operators(cls, value: Any) -> Any:
        return parse_users(value) if isinstance(value, str) else value

    def senders(self) -> Senders:
        return Senders(dict(self.channel_users), dict(self.field_users), self.ops_users)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        environment = _ENVIRONMENT.get()
        if environment is not None:
            return init_settings, _MappingEnvSource(settings_cls, environment)
        return init_settings, _VariablesEnvSource(settings_cls)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Settings from ``env`` (default: the process environment), or ``SettingsError``."""
        token = _ENVIRONMENT.set(env)
        try:
            return cls()
        except ValidationError as exc:
            raise SettingsError(explain(cls, exc)) from None
        finally:
            _ENVIRONMENT.reset(token)

    def database_name(self, service: str) -> str:
        return f"{self.database_prefix}{service}"

    @property
    def rabbitmq_urls(self) -> tuple[str, ...]:
        """The broker's addresses: one, or each node of a cluster, in the order tried."""
        return tuple(self.rabbitmq_url.split(","))

    def health_port_of(self, service: str) -> int:
        """``HEALTH_PORT``, or the service's own default port."""
        return self.health_port if self.health_port is not None else HEALTH_PORTS[service]


def variable_name(settings_cls: type[BaseSettings], field: str) -> str:
    info = settings_cls.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    return alias if isinstance(alias, str) else field.upper()


def explain(settings_cls: type[BaseSettings], exc: ValidationError) -> str:
    """One line per bad variable: its name, the value given, what is expected."""
    lines = []
    aliases = {info.validation_alias: name for name, info in settings_cls.model_fields.items()}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        field = str(aliases.get(field, field))
        info = settings_cls.model_fields.get(field)
        name = variable_name(settings_cls, field)
        expected = (info.description if info is not None else None) or "a valid value"
        problem = str(error["msg"]).removeprefix("Value error, ")
        given = without_password(error.get("input"))
        lines.append(f"{name}={given!r} is not valid: {problem}; expected {expected}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def without_password(value: Any) -> Any:
    """A URL as given, its password hidden (``amqp://user:***@host/``)."""
    if not isinstance(value, str) or "://" not in value or "@" not in value:
        return value
    scheme, _, rest = value.partition("://")
    userinfo, _, host = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"
