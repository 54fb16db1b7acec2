"""The read model is rebuilt from the event archive alone, equal to the live one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from meterctl.__main__ import main as meterctl
from services.status.main import rebuild
from services.status.settings import StatusSettings
from tests.status.conftest import outcomes, steps
from tests.status.events import (
    EventPublisher,
    assigned,
    forwarded,
    journey,
    notified,
    registered,
    rejected,
)

pytestmark = pytest.mark.broker


async def snapshot(applications: Any) -> list[dict[str, Any]]:
    """Every document, without its write token."""
    documents = await applications.find({}).sort("_id", 1).to_list()
    return [{key: value for key, value in d.items() if key != "version"} for d in documents]


async def publish_history(producer: EventPublisher, projected: Any, settled: Any) -> None:
    """Completed, rejected, half-way and never-registered applications, with copies;
    returns once each is projected and its portal updates are out of the read model."""
    first, second, third, orphan = (f"SQ-2026-00050{i}" for i in range(1, 5))
    for key, body in reversed(journey(first)):
        await producer.publish(key, body)
    await producer.publish("application.registered", registered(first))  # a copy
    await producer.publish("application.registered", registered(second, fin="7XYZW99"))
    await producer.publish("application.rejected", rejected(second, sequence=2))
    await producer.publish(
        "notification.delivered", notified(second, "application.rejected", "email")
    )
    await producer.publish("application.forwarded", forwarded(third))
    await producer.publish("application.registered", registered(third, language="ru"))
    await producer.publish("application.assigned", assigned(orphan))
    await producer.publish("application.unknown_yet", {"application_number": first})
    await producer.publish("application.forwarded", b"{broken")
    await projected(first, steps(4))
    await projected(second, outcomes(1))
    await projected(third, steps(2))
    await projected(orphan, steps(1))
    await settled()


async def test_a_dropped_read_model_is_rebuilt_equal_by_meterctl(
    producer: EventPublisher,
    projected: Any,
    settled: Any,
    applications: Any,
    status_settings: StatusSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await publish_history(producer, projected, settled)
    live = await snapshot(applications)
    await applications.drop()
    monkeypatch.setenv("RABBITMQ_URL", status_settings.rabbitmq_url)
    monkeypatch.setenv("MONGO_URL", status_settings.mongo_url)
    monkeypatch.setenv("DATABASE_PREFIX", status_settings.database_prefix)

    code = await asyncio.to_thread(meterctl, ["status", "rebuild", "--idle-timeout", "10"])

    assert code == 0
    assert await snapshot(applications) == live
    assert len(live) == 4
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["applications"] == 4
    assert report["unreadable"] == 1
    indexes = await applications.index_information()
    assert any(dict(i["key"]).get("applicant_fin") for i in indexes.values())


async def test_a_rebuild_repairs_damaged_documents_and_drops_unexplained_ones(
    producer: EventPublisher,
    projected: Any,
    settled: Any,
    applications: Any,
    status_settings: StatusSettings,
) -> None:
    await publish_history(producer, projected, settled)
    live = await snapshot(applications)
    damaged = {**live[0], "view": {**live[0]["view"], "status": "rejected"}}
    await applications.replace_one({"_id": damaged["_id"]}, damaged)
    await applications.insert_one({"_id": "SQ-2026-000999", "view": None, "received": {}})

    report = await rebuild(status_settings.rabbitmq_url, applications.database, idle_timeout=10)

    assert await snapshot(applications) == live
    assert report["removed"] == 1
    assert "applications_rebuild" not in await applications.database.list_collection_names()


async def test_events_published_during_a_rebuild_are_all_in_the_read_model(
    producer: EventPublisher,
    projected: Any,
    settled: Any,
    applications: Any,
    status_settings: StatusSettings,
) -> None:
    await publish_history(producer, projected, settled)
    numbers = [f"SQ-2026-{600 + index:06d}" for index in range(40)]

    async def keep_registering() -> None:
        for number in numbers:
            await producer.publish("application.registered", registered(number))
            await asyncio.sleep(0.01)

    await asyncio.gather(
        keep_registering(),
        rebuild(status_settings.rabbitmq_url, applications.database, idle_timeout=10),
    )

    for number in numbers:
        document = await projected(number, steps(1))
        assert document["view"]["status"] == "registered"
    assert len(await snapshot(applications)) == 4 + len(numbers)
