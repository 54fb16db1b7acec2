"""The suite's own RabbitMQ node: its own name and ports, broken and repaired, stopped by
name, while the machine's broker goes on answering."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import aio_pika
import pytest

from faults.broker import RabbitNode
from faults.procs import pid_alive

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("rabbitmq-server") is None, reason="RabbitMQ not installed"),
]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def count_messages(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(
            queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        return declared.declaration_result.message_count or 0


async def test_the_node_survives_a_kill_and_stops_by_its_own_name(tmp_path: Path) -> None:
    machine_broker_was_up = answers(5672)
    node = RabbitNode(tmp_path / "rabbit")
    assert node.name.startswith("meter-faults-")
    assert 5672 not in (node.amqp_port, node.management_port)
    try:
        await node.start()
        connection = await aio_pika.connect(node.url, timeout=10)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue("kept", durable=True, arguments={"x-queue-type": "quorum"})
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "kept"
            )
        overview = await node.get("overview")
        assert overview["node"] == node.name

        await node.stop_app()
        assert not answers(node.amqp_port)
        await node.start_app()
        await node.kill()
        assert not answers(node.amqp_port)
        await node.start()
        assert await count_messages(node.url, "kept") == 1
    finally:
        pid = node.pid()
        await node.stop()
    assert pid is not None
    assert not pid_alive(pid)
    assert answers(5672) == machine_broker_was_up
