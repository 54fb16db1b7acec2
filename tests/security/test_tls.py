"""AMQPS with a CA file, on a RabbitMQ node of the test's own that listens only with TLS."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.tls import amqp_url
from tests.security.deployment import run_meterctl
from tests.security.tls_node import TlsNode, tls_node
from tests.support.amqp import Portal

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.broker,
    # aio-pika leaves a close coroutine behind when a connection is refused.
    pytest.mark.filterwarnings("ignore:coroutine .Connection.close. was never awaited"),
]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    with tls_node(tmp_path_factory.mktemp("tls-node")) as started:
        yield started


async def test_a_service_answers_over_amqps_verified_with_the_ca_file(
    node: TlsNode, mongo_url: str, run_app: Any, tmp_path: Path
) -> None:
    settings = IntakeSettings.from_env(
        {
            "RABBITMQ_URL": node.url(),
            "RABBITMQ_CA_FILE": str(node.ca_file),
            "MONGO_URL": mongo_url,
            "DATABASE_PREFIX": f"tls{tmp_path.name[-8:]}_",
        }
    )
    assert settings.rabbitmq_url == f"{node.url()}?cafile={node.ca_file}"
    async with (
        run_app(create_app(settings, configure_logging=False)),
        Portal(amqp_url(node.url(), str(node.ca_file))) as portal,
    ):
        reply = await portal.request("intake.list_reasons", {"language": "en"})
        example = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "examples/portal.py", "reasons"],
            cwd=ROOT,
            env={**os.environ, "RABBITMQ_URL": node.url(), "RABBITMQ_CA_FILE": str(node.ca_file)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert len(reply.body["reasons"]) >= 6
    assert example.returncode == 0, example.stderr
    assert "new_installation" in example.stdout


async def test_a_connection_without_the_ca_or_without_tls_is_refused(node: TlsNode) -> None:
    with pytest.raises((ssl.SSLCertVerificationError, aio_pika.exceptions.AMQPConnectionError)):
        await asyncio.wait_for(aio_pika.connect(node.url()), 15)
    plain = node.url().replace("amqps://", "amqp://")
    with pytest.raises((ConnectionError, aio_pika.exceptions.AMQPConnectionError, OSError)):
        await asyncio.wait_for(aio_pika.connect(plain), 15)


async def test_meterctl_speaks_amqps_with_the_ca_file(node: TlsNode) -> None:
    environment = {"RABBITMQ_URL": node.url(), "RABBITMQ_CA_FILE": str(node.ca_file)}
    code, out, err = await asyncio.to_thread(run_meterctl, environment, "topology", "declare")
    assert code == 0, err
    code, out, err = await asyncio.to_thread(run_meterctl, environment, "dlq", "list")
    assert code == 0, err
    assert "0  meter.unroutable" in out
    code, _, err = await asyncio.to_thread(
        run_meterctl, {"RABBITMQ_URL": node.url(), "RABBITMQ_CA_FILE": ""}, "dlq", "list"
    )
    assert code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in err or "certificate verify failed" in err
