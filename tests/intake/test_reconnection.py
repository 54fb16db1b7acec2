"""After the broker drops its connections, intake reconnects and serves again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.intake.test_registration import submission
from tests.support.amqp import Portal
from tests.support.infra import VhostAdmin

pytestmark = pytest.mark.broker


async def test_intake_serves_again_after_its_connections_are_dropped(
    intake: Any, rabbitmq_base_url: str, rabbitmq_url: str
) -> None:
    admin = VhostAdmin(rabbitmq_base_url)
    for _ in range(50):  # the management API lists connections with a small delay
        if admin.get(f"vhosts/{rabbitmq_url.rsplit('/', 1)[1]}/connections"):
            break
        await asyncio.sleep(0.2)
    assert admin.close_connections(rabbitmq_url) >= 1

    async with Portal(rabbitmq_url) as portal:
        # Sent at once: it waits in the durable queue until intake is back.
        reply = await portal.request("intake.submit_application", submission(), timeout=30)
    assert reply.outcome == "registered"
