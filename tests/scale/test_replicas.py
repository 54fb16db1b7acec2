"""Scale-out: two replicas of every service, separate processes competing for the same
queues over one broker, leave the same ledger as one replica would: every application
numbered once, one work order each, one meter consumed each, three e-mails and three SMS
each, nothing lost. Prints applications sent, lost and duplicated."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.scale import ledger
from tests.scale.driver import Driver
from tests.scale.system import SERVICES, System

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
APPLICATIONS = 200
REPLICAS = 2


@pytest.fixture
def system(rabbitmq_url: str, mongo_url: str, tmp_path: Path) -> Iterator[System]:
    prefix = f"scale{uuid.uuid4().hex[:8]}_"
    running = System.create(tmp_path, rabbitmq_url, mongo_url, prefix)
    try:
        running.start_sinks()
        running.start_services(REPLICAS)
        running.load_reference_data(APPLICATIONS)
        yield running
    finally:
        running.stop()


def settled_by(metrics: str) -> float:
    """Deliveries a replica settled, all queues and outcomes together."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "meter_messages"
        for sample in family.samples
        if sample.name == "meter_messages_total"
    )


async def test_two_replicas_of_every_service_lose_and_duplicate_nothing(
    system: System, rabbitmq_url: str, mongo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await system.wait_ready()
    started = time.monotonic() - system.began
    driver = Driver(rabbitmq_url, APPLICATIONS)
    seconds = await driver.run(timeout=150)
    await ledger.wait_for_notifications(
        system.mail_dir, system.sms_dir, set(driver.numbers.values()), timeout=60
    )
    counted = await ledger.count(
        mongo_url,
        system.env["DATABASE_PREFIX"],
        APPLICATIONS,
        driver.replies,
        system.mail_dir,
        system.sms_dir,
    )
    with capsys.disabled():
        label = f"scale-out, {REPLICAS} replicas per service (ready in {started:.0f} s)"
        print("\n" + counted.line(label, seconds))

    assert driver.problems == []
    assert counted.numbers == APPLICATIONS
    assert counted.lost == 0, counted.details
    assert counted.duplicated == 0, counted.details
    assert counted.details["meters_left"] == 10
    # Competing consumers: every replica of every service took its share of the work.
    system.check_alive()
    for service in SERVICES:
        for replica in range(1, REPLICAS + 1):
            assert settled_by(system.metrics(f"{service}-{replica}")) > 0, (service, replica)
