"""The portal updates a write publishes (docs/integration.md), in-process over the fake store.

After every change of an application's view, one ``ApplicationUpdated``: the whole view
after the change plus the citizen's FIN, for ``<channel>.application_updated`` on
``meter.portal``. A write that changes nothing shown publishes nothing. The MongoDB
store's outbox is tested in ``test_store_outbox``, delivery in ``test_portal_updates``.
"""

from __future__ import annotations

import pytest

from tests.status.events import (
    FIN,
    forwarded,
    journey,
    notified,
    overdue,
    registered,
    withdrawn,
)
from tests.status.fakes import MemoryStatusStore
from tests.status.inprocess import LocalStatus

NUMBER = "SQ-2026-000801"


@pytest.fixture
def local() -> LocalStatus:
    return LocalStatus()


async def test_each_step_publishes_the_whole_view_after_it_for_the_channels_portal(
    local: LocalStatus,
) -> None:
    for key, body in journey(NUMBER):
        await local.publish(key, body)

    updates = local.store.published
    assert [update.status for update in updates] == [
        "registered",
        "forwarded",
        "assigned",
        "completed",
    ]
    assert {update.routing_key for update in updates} == {"e-gov.application_updated"}
    assert {update.exchange for update in updates} == {"meter.portal"}
    assert {update.applicant_fin for update in updates} == {FIN}
    asked = await local.portal.request(
        "status.get_application", {"applicant_fin": FIN, "application_number": NUMBER}
    )
    assert updates[-1].body() == {**asked.body, "applicant_fin": FIN}
    assert "contact" not in updates[-1].body()
    assert "address" not in updates[-1].body()


async def test_a_redelivered_event_publishes_nothing(local: LocalStatus) -> None:
    events = journey(NUMBER)[:2]
    ids = [await local.publish(key, body) for key, body in events]
    before = len(local.store.published)

    for (key, body), message_id in zip(events, ids, strict=True):
        await local.publish(key, body, message_id=message_id)
        await local.publish(key, body)  # a copy under another message id, too

    assert before == 2
    assert len(local.store.published) == 2


async def test_a_fact_that_changes_no_view_publishes_nothing(local: LocalStatus) -> None:
    await local.publish("application.registered", registered(NUMBER))
    await local.publish("application.overdue", overdue(NUMBER, sequence=2))
    await local.publish("application.overdue", overdue(NUMBER, sequence=3, minute=1))
    await local.publish(
        "notification.delivered", notified(NUMBER, "application.registered", "email")
    )
    # A failure reported after the delivery: the delivery stays, the view too.
    await local.publish("notification.failed", notified(NUMBER, "application.registered", "email"))

    shown = [(u.status, u.overdue, len(u.notifications)) for u in local.store.published]
    assert shown == [("registered", False, 0), ("registered", True, 0), ("registered", True, 1)]


async def test_nothing_is_published_before_the_registration_then_the_whole_view(
    local: LocalStatus,
) -> None:
    await local.publish("application.forwarded", forwarded(NUMBER))
    await local.publish("application.withdrawn", withdrawn(NUMBER, sequence=3))
    assert local.store.published == []

    await local.publish("application.registered", registered(NUMBER))

    [update] = local.store.published
    assert (update.status, update.status_label) == ("withdrawn", "Geri götürüldü")
    assert [step.status for step in update.timeline] == ["withdrawn", "forwarded", "registered"]


async def test_each_channel_gets_its_own_key(local: LocalStatus) -> None:
    for index, channel in enumerate(("e-gov", "azersu", "e-su")):
        body = {**registered(f"SQ-2026-00090{index}"), "channel": channel}
        await local.publish("application.registered", body)

    assert [update.routing_key for update in local.store.published] == [
        "e-gov.application_updated",
        "azersu.application_updated",
        "e-su.application_updated",
    ]


async def test_a_store_that_keeps_no_updates_publishes_none() -> None:
    local = LocalStatus(MemoryStatusStore(updates=False))
    for key, body in journey(NUMBER):
        await local.publish(key, body)

    assert local.store.published == []
    assert local.store.documents[NUMBER]["view"]["status"] == "completed"
