"""Parking keeps the sender the broker validated; unknown routing keys are kept for operators."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aio_pika
import pytest

from services.intake.mongo import MongoIntakeStore
from shared.contracts.registry import COMMANDS_EXCHANGE
from shared.messaging import ORIGINAL_APP_ID, ORIGINAL_ROUTING_KEY, ORIGINAL_USER_ID
from shared.mongo import make_client
from tests.security.conftest import System
from tests.security.deployment import Deployment, run_meterctl
from tests.security.support import eventually, submission
from tests.support.amqp import Portal

pytestmark = pytest.mark.broker


async def test_a_forged_original_sender_does_not_survive_parking_and_replay(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = system.deployment
    real_account = MongoIntakeStore.account

    async def broken(self: MongoIntakeStore, code: str) -> Any:
        raise RuntimeError("a bug in the directory")

    monkeypatch.setattr(MongoIntakeStore, "account", broken)
    user = deployment.name("portal-egov")  # e-gov; the forged header claims e-su
    async with Portal(deployment.url("portal-egov"), user) as portal:
        portal.commands = await portal.channel.get_exchange(COMMANDS_EXCHANGE, ensure=False)
        correlation_id = await _send_forged(portal, submission(), deployment.name("portal-esu"))
        answered = portal.pending[correlation_id]

        async def parked() -> list[dict[str, Any]]:
            code, out, _ = await system.operator("dlq", "show", "intake.submit_application")
            return [json.loads(line) for line in out.splitlines()] if code == 0 else []

        [shown] = await eventually(parked)
        assert shown["sender"] == user
        assert shown["app_id"] == "e-gov-portal"
        assert "a bug in the directory" in shown["error"]

        monkeypatch.setattr(MongoIntakeStore, "account", real_account)
        code, out, err = await system.operator("dlq", "replay", "intake.submit_application")
        assert code == 0, err
        assert out.strip() == "replayed 1 message(s) into intake.submit_application; 0 left parked"
        reply = await asyncio.wait_for(answered, 15)
    assert reply.outcome == "registered", reply.body
    client = make_client(system.values["mongo_url"], "tests")
    try:
        intake = client[f"{system.values['database_prefix']}intake"]
        stored = await intake["applications"].find_one({"_id": reply.body["application_number"]})
    finally:
        await client.close()
    assert stored is not None
    assert stored["channel"] == "e-gov"


async def _send_forged(portal: Portal, body: dict[str, Any], claimed_user: str) -> str:
    """A submission whose own headers claim another portal sent it first."""
    correlation_id = "forged-1"
    portal.pending[correlation_id] = asyncio.get_running_loop().create_future()
    await portal.commands.publish(
        aio_pika.Message(
            json.dumps(body).encode(),
            content_type="application/json",
            message_id="forged-submission",
            correlation_id=correlation_id,
            reply_to=portal.reply_queue.name,
            user_id=portal.user_id,
            app_id="e-gov-portal",
            headers={
                ORIGINAL_USER_ID: claimed_user,
                ORIGINAL_APP_ID: "e-su-portal",
                ORIGINAL_ROUTING_KEY: "intake.submit_application",
            },
        ),
        routing_key="intake.submit_application",
    )
    return correlation_id


async def test_a_command_with_an_unknown_routing_key_lands_in_meter_unroutable(
    deployment: Deployment,
) -> None:
    user = deployment.name("portal-egov")
    async with Portal(deployment.url("portal-egov"), user) as portal:
        await portal.send("intake.submit_aplication", submission(), reply=False)
    operator = {"RABBITMQ_URL": deployment.url("meter-ops")}

    async def counted() -> str | None:
        _, out, _ = await asyncio.to_thread(run_meterctl, operator, "dlq", "list")
        rows = {line.split()[1]: line.split()[0] for line in out.splitlines()}
        return None if rows.get("meter.unroutable") in (None, "0") else rows["meter.unroutable"]

    assert await eventually(counted) == "1"
    code, out, _ = await asyncio.to_thread(
        run_meterctl, operator, "dlq", "show", "meter.unroutable"
    )
    [shown] = [json.loads(line) for line in out.splitlines()]
    assert (shown["routing_key"], shown["sender"]) == ("intake.submit_aplication", user)
    code, out, _ = await asyncio.to_thread(
        run_meterctl, operator, "dlq", "purge", "meter.unroutable", "--yes"
    )
    assert (code, out.strip()) == (0, "dropped 1 message(s) from meter.unroutable")
