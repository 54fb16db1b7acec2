"""``meterctl topology``: the broker's exchanges, queues, users and permissions, from the code.

- ``definitions``: print the RabbitMQ definitions of a deployment (no passwords);
- ``declare``: declare every exchange, queue and stream on the broker (idempotent);
- ``apply``: on a running broker, through its management API, create or update the vhost,
  the topology, and every user with its permissions and topic permissions; passwords come
  from the environment (``BROKER_PASSWORD_<USER>``, the user name in capitals with ``-`` as
  ``_``) or from a file (``BROKER_PASSWORDS_FILE``, one ``user=password`` a line). A user
  with no password given keeps the one it has (a new one is created unable to log in).
  The account in ``RABBITMQ_URL`` must be an administrator; apply never changes it (locally
  ``guest`` holds every role). ``--prefix`` names the service users ``<prefix>svc-…``, so
  that several deployments (or test runs) share one broker.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import httpx

from services.status.adapters.archive import STATUS_ARCHIVE
from shared import failover
from shared.definitions import EXAMPLE_SENDERS, BrokerUser, definitions, users, vhost_definitions
from shared.settings import CommonSettings
from shared.topology import ALL_QUEUES, declare, declare_streams


def add_commands(areas: Any) -> None:
    area = areas.add_parser("topology", help="the broker topology, users and permissions")
    actions = area.add_subparsers(dest="action", required=True)
    command = actions.add_parser(
        "definitions", help="print the RabbitMQ definitions JSON of a deployment"
    )
    command.add_argument("--vhost", default="/")
    command.add_argument(
        "--from-environment",
        action="store_true",
        help="users from CHANNEL_USERS, FIELD_USERS and OPS_USERS instead of the example",
    )
    command.add_argument("--prefix", default="", help="before the service users' names")
    command.set_defaults(func=print_definitions)
    actions.add_parser(
        "declare", help="declare every exchange, queue and stream on the broker (idempotent)"
    ).set_defaults(func=run_declare)
    apply = actions.add_parser(
        "apply",
        help="create or update the topology, users, permissions and passwords on a broker",
    )
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would be done, change nothing"
    )
    apply.add_argument("--prefix", default="", help="before the service users' names")
    apply.set_defaults(func=run_apply)


def deployment_definitions(vhost: str = "/") -> dict[str, Any]:
    """Everything a deployment declares up front: the services' queues and status's archive."""
    return definitions(vhost, streams=(STATUS_ARCHIVE,))


def print_definitions(args: argparse.Namespace, settings: CommonSettings) -> int:
    if args.from_environment or args.prefix:
        senders = settings.senders() if args.from_environment else EXAMPLE_SENDERS
        document = definitions(args.vhost, (STATUS_ARCHIVE,), senders, args.prefix)
    else:
        document = deployment_definitions(args.vhost)
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def run_declare(args: argparse.Namespace, settings: CommonSettings) -> int:
    asyncio.run(declare_everything(settings.rabbitmq_url))
    print(f"declared {len(ALL_QUEUES)} work queues, their parking queues and {STATUS_ARCHIVE.name}")
    return 0


async def declare_everything(url: str) -> None:
    """The whole topology, so that no event is published before the archive exists."""
    connection = await failover.connect(url)
    async with connection:
        channel = await connection.channel()
        await declare(channel, ALL_QUEUES)
        await declare_streams(channel, (STATUS_ARCHIVE,))


def passwords(environment: dict[str, str]) -> dict[str, str]:
    """Passwords by user: ``BROKER_PASSWORDS_FILE`` lines, then ``BROKER_PASSWORD_<USER>``."""
    found: dict[str, str] = {}
    path = environment.get("BROKER_PASSWORDS_FILE")
    if path:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            user, sep, password = line.partition("=")
            if not sep or not user.strip() or not password:
                raise SystemExit(f"meterctl: {path}:{number}: expected user=password")
            found[user.strip()] = password
    for name, value in environment.items():
        if name.startswith("BROKER_PASSWORD_") and name != "BROKER_PASSWORDS_FILE" and value:
            found[name.removeprefix("BROKER_PASSWORD_")] = value
    return found


def password_of(user: str, given: dict[str, str]) -> str | None:
    return given.get(user) or given.get(user.upper().replace("-", "_"))


class Management:
    """The RabbitMQ management HTTP API of the broker in ``RABBITMQ_URL``."""

    def __init__(self, amqp_url: str) -> None:
        parts = urllib.parse.urlsplit(amqp_url)
        default = f"http://{parts.hostname or 'localhost'}:15672"
        self.base = os.environ.get("RABBITMQ_MANAGEMENT_URL", default).rstrip("/")
        self.vhost = urllib.parse.unquote(parts.path.lstrip("/")) or "/"
        self.user = urllib.parse.unquote(parts.username or "guest")
        # An https management API is verified against the broker's CA (RABBITMQ_CA_FILE).
        ca_file = os.environ.get("RABBITMQ_CA_FILE") or None
        self.client = httpx.Client(
            auth=(self.user, urllib.parse.unquote(parts.password or "guest")),
            timeout=30,
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
        )

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.client.request(method, f"{self.base}/api/{path}", json=body)
        if response.status_code == 401:
            raise SystemExit("meterctl: the management API refused the account in RABBITMQ_URL")
        if response.status_code >= 400 and not (method == "GET" and response.status_code == 404):
            raise SystemExit(
                f"meterctl: {method} /api/{path} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        return response

    @staticmethod
    def quote(name: str) -> str:
        return urllib.parse.quote(name, safe="")


def run_apply(args: argparse.Namespace, settings: CommonSettings) -> int:
    management = Management(settings.rabbitmq_url)
    vhost = management.quote(management.vhost)
    accounts = users(settings.senders(), (STATUS_ARCHIVE,), args.prefix)
    if any(user.name == management.user for user in accounts):
        print(
            f"meterctl: {management.user} (the account applying) keeps its own permissions",
            file=sys.stderr,
        )
        accounts = [user for user in accounts if user.name != management.user]
    given = passwords(dict(os.environ))
    unknown = sorted(
        set(given) - {name for user in accounts for name in (user.name, _env_name(user.name))}
    )
    for name in unknown:
        print(
            f"meterctl: a password for {name!r}, who is no user of this deployment", file=sys.stderr
        )
    plan = [f"vhost {management.vhost}: exchanges, queues and bindings"]
    plan += [_describe(user, password_of(user.name, given) is not None) for user in accounts]
    if args.dry_run:
        print("\n".join(plan))
        return 0
    management.call("PUT", f"vhosts/{vhost}", {})
    management.call("POST", f"definitions/{vhost}", vhost_definitions((STATUS_ARCHIVE,)))
    print(plan[0])
    for user, planned in zip(accounts, plan[1:], strict=True):
        line = planned
        if not _apply_user(management, vhost, user, password_of(user.name, given)):
            line = planned.replace("password kept", "created WITHOUT a password")
            print(
                f"meterctl: {user.name} cannot log in until BROKER_PASSWORD_"
                f"{_env_name(user.name)} is given and apply runs again",
                file=sys.stderr,
            )
        print(line)
    return 0


def _env_name(user: str) -> str:
    return user.upper().replace("-", "_")


def _describe(user: BrokerUser, with_password: bool) -> str:
    password = "password set" if with_password else "password kept"
    return f"user {user.name}: permissions, {len(user.topics)} topic permission(s), {password}"


def _apply_user(management: Management, vhost: str, user: BrokerUser, password: str | None) -> bool:
    """Create or update one user; False when it was created without a password."""
    name = management.quote(user.name)
    existing = management.call("GET", f"users/{name}")
    if password is not None:
        management.call("PUT", f"users/{name}", {"password": password, "tags": ",".join(user.tags)})
    elif existing.status_code == 404:
        # No password given: created unable to log in until one is set.
        management.call("PUT", f"users/{name}", {"password_hash": "", "tags": ",".join(user.tags)})
    management.call(
        "PUT",
        f"permissions/{vhost}/{name}",
        {"configure": user.configure, "write": user.write, "read": user.read},
    )
    for exchange, (write, read) in user.topics.items():
        management.call(
            "PUT",
            f"topic-permissions/{vhost}/{name}",
            {"exchange": exchange, "write": write, "read": read},
        )
    return password is not None or existing.status_code == 200


__all__ = ["EXAMPLE_SENDERS", "deployment_definitions"]
