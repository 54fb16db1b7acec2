"""The system on a 3-node RabbitMQ cluster: every service is given all three addresses, its
quorum queues are replicated on every node, and one node is stopped while applications
stream through. The services fail over to another node and nothing is lost or duplicated.
Prints applications sent, lost and duplicated."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale import ledger
from tests.scale.cluster import Cluster, installed
from tests.scale.driver import Driver
from tests.scale.system import SERVICES, System, ready
from tests.support.infra import unavailable

pytestmark = [pytest.mark.e2e]
APPLICATIONS = 150


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not installed():
        unavailable("no rabbitmq-server installed to start a cluster from")
    nodes = Cluster(tmp_path / "cluster")
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def system(cluster: Cluster, mongo_url: str, tmp_path: Path) -> Iterator[System]:
    prefix = f"cluster{uuid.uuid4().hex[:8]}_"
    running = System.create(tmp_path, ",".join(cluster.addresses), mongo_url, prefix)
    try:
        running.start_sinks()
        running.start_services(replicas=1)
        running.load_reference_data(APPLICATIONS)
        yield running
    finally:
        running.stop()


async def test_a_node_of_the_cluster_stops_mid_stream_and_nothing_is_lost(
    cluster: Cluster, system: System, mongo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, last = cluster.nodes
    assert cluster.running_nodes(via=last) == sorted(node.name for node in cluster.nodes)
    await system.wait_ready()
    members = cluster.quorum_members(via=last)
    assert "intake.submit_application" in members
    assert all(nodes == sorted(n.name for n in cluster.nodes) for nodes in members.values())

    # The portals and the field team use the node that stays; the services start on the
    # first address, the node that is stopped.
    driver = Driver(last.url, APPLICATIONS)
    load = asyncio.create_task(driver.run(timeout=150))
    third = asyncio.create_task(driver.registrations(APPLICATIONS // 3))
    await asyncio.wait({load, third}, return_when=asyncio.FIRST_COMPLETED)
    third.cancel()
    stopped_after = len(driver.numbers)
    await asyncio.to_thread(cluster.stop_node, first)
    stopped_at = time.monotonic()
    seconds = await load
    after_stop = time.monotonic() - stopped_at
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
        label = (
            f"3-node cluster, {first.name} stopped after {stopped_after} registrations, "
            f"the rest done {after_stop:.0f} s later on two nodes"
        )
        print("\n" + counted.line(label, seconds))

    assert driver.problems == []
    assert counted.lost == 0, counted.details
    assert counted.duplicated == 0, counted.details
    assert cluster.running_nodes(via=last) == sorted(n.name for n in cluster.nodes[1:])
    # Every service lost the stopped node, failed over and is ready again on another one.
    system.check_alive()
    for name in (f"{service}-1" for service in SERVICES):
        assert await asyncio.to_thread(ready, system.health[name]), name
        log = (system.root / f"{name}.log").read_text(errors="replace")
        assert "next attempt goes to another node" in log, name
