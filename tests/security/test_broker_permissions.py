"""What the broker itself refuses each user of the generated definitions (no service runs).

Every refusal is paired with what the same user may do, so that a user who could do
nothing at all would fail these tests too.
"""

from __future__ import annotations

from typing import Any

import aio_pika
import pytest

from shared.contracts.events import EVENT_MODELS
from shared.contracts.registry import (
    COMMANDS_EXCHANGE,
    EVENTS_EXCHANGE,
    FIELD_EXCHANGE,
    PORTAL_EXCHANGE,
    Service,
)
from shared.topology import queues_of
from tests.security.deployment import Deployment, broker_refuses

pytestmark = pytest.mark.broker


def publish(exchange: str, routing_key: str, **properties: Any) -> Any:
    async def operation(channel: aio_pika.abc.AbstractChannel) -> None:
        target = (
            channel.default_exchange
            if exchange == ""
            else await channel.get_exchange(exchange, ensure=False)
        )
        await target.publish(aio_pika.Message(b"{}", **properties), routing_key=routing_key)

    return operation


def bind(exchange: str, routing_key: str) -> Any:
    async def operation(channel: aio_pika.abc.AbstractChannel) -> None:
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(await channel.get_exchange(exchange, ensure=False), routing_key)

    return operation


def take(queue: str) -> Any:
    async def operation(channel: aio_pika.abc.AbstractChannel) -> None:
        declared = await channel.get_queue(queue, ensure=False)
        await declared.get(no_ack=False, fail=False)

    return operation


async def allowed(url: str, operation: Any) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await operation(channel)
        await channel.set_qos(prefetch_count=1)  # the channel is still open


async def test_a_portal_may_publish_its_commands_but_the_broker_refuses_it_dispatcher_keys(
    deployment: Deployment,
) -> None:
    url, user = deployment.url("portal-egov"), deployment.name("portal-egov")
    await allowed(url, publish(COMMANDS_EXCHANGE, "intake.list_reasons", user_id=user))
    await allowed(url, publish(COMMANDS_EXCHANGE, "status.get_application", user_id=user))
    for key in ("dispatcher.receive_stock", "dispatcher.report_outcome"):
        refusal = await broker_refuses(url, publish(COMMANDS_EXCHANGE, key, user_id=user))
        assert f"access to topic '{key}' in exchange 'meter.commands'" in refusal
        assert "ACCESS_REFUSED" in refusal


async def test_a_portal_may_not_publish_as_another_user_nor_into_queues_nor_events(
    deployment: Deployment,
) -> None:
    url = deployment.url("portal-egov")
    other = deployment.name("portal-esu")
    refusal = await broker_refuses(
        url, publish(COMMANDS_EXCHANGE, "intake.list_reasons", user_id=other)
    )
    assert "user_id property set to" in refusal
    # Straight into a queue (where x-original-* headers are believed): refused.
    assert "amq.default" in await broker_refuses(url, publish("", "intake.submit_application"))
    assert "meter.events" in await broker_refuses(url, publish(EVENTS_EXCHANGE, "application.x"))


async def test_a_portal_reads_only_its_own_channels_updates(deployment: Deployment) -> None:
    url = deployment.url("portal-egov")
    await allowed(url, bind(PORTAL_EXCHANGE, "e-gov.application_updated"))
    refusal = await broker_refuses(url, bind(PORTAL_EXCHANGE, "e-su.application_updated"))
    assert "access to topic 'e-su.application_updated'" in refusal
    assert "meter.events" in await broker_refuses(url, bind(EVENTS_EXCHANGE, "#"))


async def test_a_field_app_reads_only_its_own_teams_keys_and_never_the_events(
    deployment: Deployment,
) -> None:
    url = deployment.url("field-baku")
    await allowed(url, bind(FIELD_EXCHANGE, "team.T-01"))
    await allowed(url, bind(FIELD_EXCHANGE, "team.T-03"))
    for key in ("team.T-04", "team.*", "#"):
        assert f"access to topic '{key}'" in await broker_refuses(url, bind(FIELD_EXCHANGE, key))
    for key in ("#", "application.registered"):
        refusal = await broker_refuses(url, bind(EVENTS_EXCHANGE, key))
        assert "exchange 'meter.events'" in refusal


async def test_a_field_app_may_publish_reports_only(deployment: Deployment) -> None:
    url, user = deployment.url("field-regions"), deployment.name("field-regions")
    await allowed(url, publish(COMMANDS_EXCHANGE, "dispatcher.report_outcome", user_id=user))
    for key in ("dispatcher.receive_stock", "intake.submit_application", "status.x"):
        refusal = await broker_refuses(url, publish(COMMANDS_EXCHANGE, key, user_id=user))
        assert f"access to topic '{key}'" in refusal


@pytest.mark.parametrize("service", list(Service), ids=lambda service: service.value)
async def test_a_service_reads_only_its_own_queues_and_publishes_only_its_own_events(
    deployment: Deployment, service: Service
) -> None:
    url = deployment.url(service)
    own = queues_of(service)[0]
    await allowed(url, take(own.name))
    await allowed(url, take(own.parking_queue))
    for other in (s for s in Service if s != service):
        for queue in queues_of(other):
            for name in (queue.name, queue.parking_queue):
                refusal = await broker_refuses(url, take(name))
                assert f"queue '{name}'" in refusal, refusal
    for event in EVENT_MODELS:
        operation = publish(EVENTS_EXCHANGE, event.routing_key)
        if event.producer == service:
            await allowed(url, operation)
        else:
            # Refused on the key, or on the whole exchange for a service producing nothing.
            refusal = await broker_refuses(url, operation)
            assert "meter.events" in refusal or event.routing_key in refusal, refusal
    # No service sends commands.
    refusal = await broker_refuses(url, publish(COMMANDS_EXCHANGE, "intake.list_reasons"))
    assert "meter.commands" in refusal


async def test_operations_read_parked_messages_but_not_the_work_queues(
    deployment: Deployment,
) -> None:
    url, user = deployment.url("meter-ops"), deployment.name("meter-ops")
    await allowed(url, take("intake.submit_application.dlq"))
    await allowed(url, take("meter.unroutable"))
    await allowed(url, publish(COMMANDS_EXCHANGE, "dispatcher.receive_stock", user_id=user))
    assert "queue 'intake.submit_application'" in await broker_refuses(
        url, take("intake.submit_application")
    )
    assert "meter.events" in await broker_refuses(url, publish(EVENTS_EXCHANGE, "application.x"))
    assert "access to topic 'intake.submit_application'" in await broker_refuses(
        url, publish(COMMANDS_EXCHANGE, "intake.submit_application", user_id=user)
    )
