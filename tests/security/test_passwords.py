"""Passwords never live in the definitions; ``meterctl topology apply`` sets them."""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from meterctl.topology import Management, deployment_definitions
from shared.definitions import definitions
from tests.security.deployment import Deployment, delete_users, run_meterctl

# aio-pika leaves a close coroutine behind when a login is refused.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .Connection.close. was never awaited")

ROOT = Path(__file__).resolve().parents[2]


def keys_of(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield str(key)
            yield from keys_of(value)
    elif isinstance(document, list):
        for item in document:
            yield from keys_of(item)


def test_no_definitions_carry_a_password_or_a_password_hash() -> None:
    committed = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    for document in (committed, deployment_definitions("/"), definitions("/", prefix="x-")):
        assert document["users"], "the definitions name their users"
        assert not [key for key in keys_of(document) if "password" in key]


async def logs_in(url: str) -> bool:
    try:
        connection = await aio_pika.connect(url)
    except aio_pika.exceptions.ProbableAuthenticationError:
        return False
    await connection.close()
    return True


@pytest.fixture
def prefix(rabbitmq_url: str) -> Iterator[str]:
    chosen = f"t{uuid.uuid4().hex[:8]}-"
    yield chosen
    delete_users(rabbitmq_url, chosen)


async def apply(rabbitmq_url: str, prefix: str, **environment: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(
        run_meterctl,
        {"RABBITMQ_URL": rabbitmq_url, **environment},
        "topology",
        "apply",
        "--prefix",
        prefix,
    )


@pytest.mark.broker
async def test_a_user_logs_in_only_once_apply_has_set_the_password_given(
    rabbitmq_url: str, prefix: str
) -> None:
    deployment = Deployment(rabbitmq_url, prefix)
    user = f"{prefix}svc-intake"
    password = secrets.token_urlsafe(18)

    code, out, err = await apply(rabbitmq_url, prefix)
    assert code == 0, err
    assert f"user {user}: permissions, 2 topic permission(s), created WITHOUT a password" in out
    assert f"{user} cannot log in until BROKER_PASSWORD_{user.upper().replace('-', '_')}" in err
    for attempt in ("", "guest", password):
        assert not await logs_in(deployment.url(user.removeprefix(prefix), attempt))

    variable = f"BROKER_PASSWORD_{user.upper().replace('-', '_')}"
    code, out, _ = await apply(rabbitmq_url, prefix, **{variable: password})
    assert f"user {user}: permissions, 2 topic permission(s), password set" in out
    assert await logs_in(deployment.url(user.removeprefix(prefix), password))
    assert not await logs_in(deployment.url(user.removeprefix(prefix), password + "x"))

    # Applied again without passwords (a topology change): every password is kept.
    code, out, _ = await apply(rabbitmq_url, prefix)
    assert f"user {user}: permissions, 2 topic permission(s), password kept" in out
    assert await logs_in(deployment.url(user.removeprefix(prefix), password))


@pytest.mark.broker
async def test_apply_never_changes_the_account_it_runs_as(rabbitmq_url: str, prefix: str) -> None:
    # Locally guest holds every sender role; applying must not lock the administrator out.
    code, _, err = await apply(rabbitmq_url, prefix)
    assert code == 0
    assert "guest (the account applying) keeps its own permissions" in err
    management = Management(rabbitmq_url)
    vhost = management.quote(management.vhost)
    kept = management.call("GET", f"permissions/{vhost}/guest").json()
    assert (kept["configure"], kept["write"], kept["read"]) == (".*", ".*", ".*")


@pytest.mark.broker
async def test_a_dry_run_says_what_it_would_do_and_creates_no_user(
    rabbitmq_url: str, prefix: str
) -> None:
    code, out, _ = await asyncio.to_thread(
        run_meterctl,
        {"RABBITMQ_URL": rabbitmq_url, "OPS_USERS": f"{prefix}meter-ops"},
        "topology",
        "apply",
        "--prefix",
        prefix,
        "--dry-run",
    )
    assert code == 0
    assert f"user {prefix}meter-ops: permissions, 1 topic permission(s), password kept" in out
    listed = Management(rabbitmq_url).call("GET", "users").json()
    assert not [user for user in listed if user["name"].startswith(prefix)]
