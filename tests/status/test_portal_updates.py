"""Updates pushed to the portals on ``meter.portal`` over the real broker (docs/integration.md).

The status service runs as its own deployed user (``svc-status``); each portal connects as
its own generated user, binds its own durable queue ``portal.<channel>.updates`` to its
channel's key and receives every change of its applications' views, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from services.status.main import create_app, rebuild
from services.status.settings import StatusSettings
from shared.contracts.registry import PORTAL_EXCHANGE, Service
from tests.security.deployment import Deployment, applied, broker_refuses
from tests.status.conftest import steps
from tests.status.events import FIN, EventPublisher, journey, registered
from tests.support.amqp import wait_until_consumed

pytestmark = pytest.mark.broker


class Updates:
    """A portal's durable queue of updates, bound to its channel's key."""

    def __init__(self, url: str, channel: str) -> None:
        self.url, self.channel = url, channel
        self.inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def __aenter__(self) -> Updates:
        self.connection = await aio_pika.connect(self.url)
        channel = await self.connection.channel()
        exchange = await channel.get_exchange(PORTAL_EXCHANGE, ensure=False)
        queue = await channel.declare_queue(f"portal.{self.channel}.updates", durable=True)
        await queue.bind(exchange, f"{self.channel}.application_updated")
        await queue.consume(self._take)
        return self

    async def _take(self, message: AbstractIncomingMessage) -> None:
        await message.ack()
        await self.inbox.put(message)

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()

    async def next(self, timeout: float = 15.0) -> tuple[dict[str, Any], AbstractIncomingMessage]:
        message = await asyncio.wait_for(self.inbox.get(), timeout)
        return json.loads(message.body), message


@pytest.fixture
def deployment(rabbitmq_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with applied(rabbitmq_url, tmp_path) as found:
        yield found


@pytest.fixture
async def deployed_status(
    deployment: Deployment,
    status_settings: StatusSettings,
    status_db: Any,
    run_app: Any,
    rabbitmq_url: str,
) -> AsyncIterator[Any]:
    """The status service connected as ``svc-status``, with nothing but its permissions."""
    settings = StatusSettings(
        **{
            **status_settings.model_dump(),
            **deployment.sender_settings(),
            "rabbitmq_url": deployment.url(Service.STATUS),
        }
    )
    async with run_app(create_app(settings, configure_logging=False)) as app:
        await wait_until_consumed(rabbitmq_url, "status.application_events")
        yield app


async def test_a_portal_on_its_channels_key_receives_each_update_of_its_own_applications(
    deployment: Deployment, deployed_status: Any, rabbitmq_url: str
) -> None:
    mine, esu = "SQ-2026-001001", "SQ-2026-001002"
    async with (
        Updates(deployment.url("portal-egov"), "e-gov") as egov,
        Updates(deployment.url("portal-esu"), "e-su") as esu_portal,
        EventPublisher(rabbitmq_url) as producer,
    ):
        await producer.publish("application.registered", {**registered(esu), "channel": "e-su"})
        seen = []
        for key, body in journey(mine):
            await producer.publish(key, body)
            update, message = await egov.next()
            seen.append(update)
            assert (message.type, message.app_id, message.routing_key) == (
                "application_updated",
                "status",
                "e-gov.application_updated",
            )
            assert message.message_id
        other, _ = await esu_portal.next()

    assert [update["status"] for update in seen] == [
        "registered",
        "forwarded",
        "assigned",
        "completed",
    ]
    assert {update["application_number"] for update in seen} == {mine}
    assert {update["applicant_fin"] for update in seen} == {FIN}
    assert [len(update["timeline"]) for update in seen] == [1, 2, 3, 4]  # the whole view
    assert seen[-1]["act"]["act_number"] == "AKT-2026-0042"
    assert (other["application_number"], other["channel"]) == (esu, "e-su")
    assert egov.inbox.empty()
    assert esu_portal.inbox.empty()


async def test_a_redelivered_event_pushes_nothing(
    deployment: Deployment, deployed_status: Any, rabbitmq_url: str
) -> None:
    first, second = "SQ-2026-001011", "SQ-2026-001012"
    async with (
        Updates(deployment.url("portal-egov"), "e-gov") as egov,
        EventPublisher(rabbitmq_url) as producer,
    ):
        message_id = await producer.publish("application.registered", registered(first))
        assert (await egov.next())[0]["application_number"] == first
        await producer.publish("application.registered", registered(first), message_id=message_id)
        await producer.publish("application.registered", registered(second))

        assert (await egov.next())[0]["application_number"] == second
        await asyncio.sleep(0.5)  # time for a (wrong) update of the copy to arrive too

    assert egov.inbox.empty()


async def test_a_portal_user_cannot_bind_another_channels_key_nor_take_its_queue(
    deployment: Deployment,
) -> None:
    url = deployment.url("portal-egov")

    async def bind_other(channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await channel.declare_queue("portal.e-gov.updates", durable=True)
        await queue.bind(await channel.get_exchange(PORTAL_EXCHANGE, ensure=False), "e-su.#")

    async def declare_others(channel: aio_pika.abc.AbstractChannel) -> None:
        await channel.declare_queue("portal.e-su.updates", durable=True)

    assert "access to topic 'e-su.#'" in await broker_refuses(url, bind_other)
    assert "portal.e-su.updates" in await broker_refuses(url, declare_others)
    async with Updates(url, "e-gov"):  # its own key and queue it may
        pass


async def test_a_rebuild_does_not_push_old_views_to_the_portals(
    status: Any,
    producer: EventPublisher,
    projected: Any,
    settled: Any,
    applications: Any,
    status_settings: StatusSettings,
    rabbitmq_url: str,
) -> None:
    old, new = "SQ-2026-001021", "SQ-2026-001022"
    async with Updates(rabbitmq_url, "e-gov") as egov:
        for key, body in journey(old):
            await producer.publish(key, body)
        # Events handled together make one update of the view they make together.
        while (await egov.next())[0]["status"] != "completed":
            pass
        await projected(old, steps(4))

        report = await rebuild(status_settings.rabbitmq_url, applications.database, 10)
        await producer.publish("application.registered", registered(new))
        update, _ = await egov.next()

    assert report["applications"] == 1
    assert update["application_number"] == new
    assert egov.inbox.empty()
    await settled()  # and nothing left for the relay to publish again
