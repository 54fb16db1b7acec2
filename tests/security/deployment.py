"""A deployment's broker users, as ``meterctl topology apply`` makes them, in a test's vhost.

Users are broker-wide, so each test names its own with a prefix of its own
(``t<hex>-svc-intake``, ``t<hex>-portal-egov``, …), gives each a random password, and
deletes every user with that prefix when it ends: no user with a known password outlives
the test.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiormq

from meterctl.__main__ import main as meterctl
from meterctl.topology import Management
from shared.contracts.registry import Service
from shared.definitions import service_user

PORTALS = {"portal-egov": "e-gov", "portal-esu": "e-su"}
FIELD_APPS = {"field-baku": "T-01|T-02|T-03", "field-regions": "T-04|T-05"}
OPERATORS = ("meter-ops",)


@dataclass
class Deployment:
    """The test vhost's users: ``url(name)`` connects as one of them."""

    admin_url: str  # the administrator (guest) on the test's vhost
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:8]}-")
    passwords: dict[str, str] = field(default_factory=dict)

    def name(self, short: str) -> str:
        """A user's full name: ``portal-egov`` → ``t1a2b3c4d-portal-egov``."""
        return f"{self.prefix}{short}"

    def service(self, service: Service) -> str:
        return service_user(service, self.prefix)

    def url(self, short_or_service: str | Service, password: str | None = None) -> str:
        user = (
            self.service(short_or_service)
            if isinstance(short_or_service, Service)
            else self.name(short_or_service)
        )
        parts = urllib.parse.urlsplit(self.admin_url)
        secret = password if password is not None else self.passwords[user]
        netloc = (
            f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(secret, safe='')}"
            f"@{parts.hostname}:{parts.port or 5672}"
        )
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def environment(self) -> dict[str, str]:
        """The sender roles as every service and meterctl read them."""
        return {
            "CHANNEL_USERS": ",".join(f"{self.name(u)}={c}" for u, c in PORTALS.items()),
            "FIELD_USERS": ",".join(f"{self.name(u)}={t}" for u, t in FIELD_APPS.items()),
            "OPS_USERS": ",".join(self.name(user) for user in OPERATORS),
        }

    def sender_settings(self) -> dict[str, Any]:
        """The same roles as settings keyword arguments."""
        return {
            "channel_users": {self.name(user): channel for user, channel in PORTALS.items()},
            "field_users": {
                self.name(user): frozenset(teams.split("|")) for user, teams in FIELD_APPS.items()
            },
            "ops_users": frozenset(self.name(user) for user in OPERATORS),
        }

    def all_users(self) -> list[str]:
        senders = [*PORTALS, *FIELD_APPS, *OPERATORS]
        return [self.service(s) for s in Service] + [self.name(user) for user in senders]


def run_meterctl(environment: Mapping[str, str], *args: str) -> tuple[int, str, str]:
    """``meterctl ARGS`` in this process with ``environment`` added; exit code, out, err.

    Call it from a thread (``asyncio.to_thread``): meterctl runs its own event loop.
    """
    saved = {name: os.environ.get(name) for name in environment}
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(environment)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = meterctl(list(args))
            except SystemExit as exc:  # argparse, or a command ending with its message
                code = exc.code if isinstance(exc.code, int) else 1
                if not isinstance(exc.code, int):
                    print(exc.code, file=err)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return code, out.getvalue(), err.getvalue()


@contextlib.contextmanager
def applied(admin_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment applied by ``meterctl topology apply``; its users deleted afterwards."""
    deployment = Deployment(admin_url)
    deployment.passwords = {user: secrets.token_urlsafe(18) for user in deployment.all_users()}
    passwords_file = tmp_path / "broker-passwords"
    passwords_file.write_text(
        "".join(f"{user}={secret}\n" for user, secret in deployment.passwords.items())
    )
    passwords_file.chmod(0o600)
    environment = {
        **deployment.environment(),
        "RABBITMQ_URL": admin_url,
        "BROKER_PASSWORDS_FILE": str(passwords_file),
    }
    try:
        code, out, err = run_meterctl(
            environment, "topology", "apply", "--prefix", deployment.prefix
        )
        passwords_file.unlink()  # no password left on disk, even if the run is killed
        assert code == 0, f"topology apply failed: {out}{err}"
        yield deployment
    finally:
        delete_users(admin_url, deployment.prefix)


def delete_users(admin_url: str, prefix: str) -> None:
    management = Management(admin_url)
    listed = management.call("GET", "users").json()
    for user in listed:
        if user["name"].startswith(prefix):
            management.call("DELETE", f"users/{management.quote(user['name'])}")


def open_topic_permission(admin_url: str, user: str, exchange: str) -> None:
    """Let ``user`` publish any routing key on ``exchange`` (bypassing the broker's check)."""
    management = Management(admin_url)
    vhost = management.quote(management.vhost)
    management.call(
        "PUT",
        f"topic-permissions/{vhost}/{management.quote(user)}",
        {"exchange": exchange, "write": ".*", "read": ".*"},
    )


async def broker_refuses(url: str, operation: Any) -> str:
    """The text of the broker's refusal of ``await operation(channel)`` for the user of ``url``.

    The channel has publisher confirms, so a refused publish fails the publish itself.
    """
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        try:
            await operation(channel)
            # A refusal may close the channel just after the operation's own answer.
            await channel.set_qos(prefetch_count=1)
        except aiormq.exceptions.ChannelClosed as exc:  # ACCESS_REFUSED, PRECONDITION_FAILED
            return str(exc)
        raise AssertionError("the broker let it through")
    finally:
        await connection.close()
