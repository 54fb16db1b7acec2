"""The deployed definitions and the services' own declarations are the same topology."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meterctl.topology import deployment_definitions
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.definitions import definitions, vhost_definitions
from tests.support.amqp import Portal
from tests.support.infra import VhostAdmin

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


async def test_a_service_starts_on_a_broker_loaded_from_the_definitions(
    rabbitmq_base_url: str, rabbitmq_url: str, settings_values: dict[str, Any], run_app: Any
) -> None:
    VhostAdmin(rabbitmq_base_url).import_definitions(rabbitmq_url, vhost_definitions())
    # Declaring again with different arguments would fail with PRECONDITION_FAILED.
    app = create_app(IntakeSettings(**settings_values), configure_logging=False)
    async with run_app(app), Portal(rabbitmq_url) as portal:
        reply = await portal.request("intake.list_reasons", {"language": "az"})
    assert len(reply.body["reasons"]) == 6


def test_the_committed_definitions_file_is_generated_from_the_code() -> None:
    committed = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    assert committed == deployment_definitions("/"), "run `make definitions` and commit the result"


def test_portals_may_only_publish_commands_and_use_their_own_queues() -> None:
    permissions = {p["user"]: p for p in definitions()["permissions"]}
    assert (
        permissions["portal-egov"]["write"] == r"^(amq\.gen-.*|meter\.commands|portal\.e\-gov\..+)$"
    )
    assert permissions["portal-esu"]["configure"].startswith("^(amq")


def test_the_committed_asyncapi_document_is_generated_from_the_contract_models() -> None:
    from meterctl.asyncapi import document

    committed = json.loads((ROOT / "deploy/asyncapi.json").read_text())
    assert committed == document(), "run `make definitions` and commit the result"
    assert set(committed["channels"]) >= {"intake.submit_application", "application.registered"}
