"""A registration is answered before its event is confirmed, and acknowledged after it.

Over the real broker and database: the event's publication is held back at the outbox;
the portal gets its reply meanwhile, the event and the acknowledgement wait for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from faststream.rabbit.message import RabbitMessage

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.outbox import Outbox, OutboxDocuments
from tests.intake.test_registration import submission
from tests.support.amqp import EventLog, Portal

pytestmark = pytest.mark.broker


async def test_the_portal_is_answered_while_the_event_waits_for_its_confirm(
    intake_settings: IntakeSettings,
    intake_db: Any,
    rabbitmq_url: str,
    run_app: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = asyncio.Event()
    steps: list[str] = []
    real_publish, real_ack = Outbox.publish_or_leave, RabbitMessage.ack

    async def held_publish(
        self: Outbox, source: OutboxDocuments, document: Mapping[str, Any]
    ) -> None:
        steps.append("publishing")
        await gate.wait()
        await real_publish(self, source, document)
        steps.append("published")

    async def noted_ack(self: RabbitMessage, *args: Any, **kwargs: Any) -> None:
        if self.raw_message.routing_key == "intake.submit_application":
            steps.append("acknowledged")
        await real_ack(self, *args, **kwargs)

    monkeypatch.setattr(Outbox, "publish_or_leave", held_publish)
    monkeypatch.setattr(RabbitMessage, "ack", noted_ack)
    async with (
        run_app(create_app(intake_settings, configure_logging=False)),
        EventLog(rabbitmq_url, ("application.registered",)) as events,
        Portal(rabbitmq_url) as portal,
    ):
        reply = await portal.request("intake.submit_application", submission(), timeout=10)
        assert reply.outcome == "registered"
        assert steps == ["publishing"]  # answered while the event is held
        await asyncio.sleep(0.3)
        assert events.bodies("application.registered") == []
        assert steps == ["publishing"]  # and not acknowledged before it is published

        gate.set()
        [event] = await events.wait_for("application.registered")
        assert event["application_number"] == reply.body["application_number"]
        for _ in range(100):
            if "acknowledged" in steps:
                break
            await asyncio.sleep(0.05)
        assert steps == ["publishing", "published", "acknowledged"]
