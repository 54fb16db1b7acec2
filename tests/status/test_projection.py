"""Events published on the real broker become the citizen's view of each application.

What the view shows is tested in-process (``test_views``); here, the delivery of events
and queries over the broker, copies of messages included.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.status.conftest import steps
from tests.status.events import (
    ACT,
    FIN,
    EventPublisher,
    journey,
    notified,
    registered,
)
from tests.support.amqp import Portal

pytestmark = pytest.mark.broker


async def test_each_step_moves_the_status_and_extends_the_timeline(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000102"
    query = {"applicant_fin": FIN, "application_number": number}
    seen = []
    for count, (key, body) in enumerate(journey(number), start=1):
        await producer.publish(key, body)
        await projected(number, steps(count))
        seen.append((await portal.request("status.get_application", query)).body)

    assert [view["status"] for view in seen] == ["registered", "forwarded", "assigned", "completed"]
    assert [view["status_label"] for view in seen] == [
        "Qeydiyyata alındı",
        "İcraya yönləndirildi",
        "İcraçı təyin edildi",
        "İcra edildi",
    ]
    final = seen[-1]
    assert [step["label"] for step in final["timeline"]] == [
        v["status_label"] for v in reversed(seen)
    ]
    assert final["act"] == ACT
    assert final["timeline"][0]["note"] == "Sayğac quraşdırıldı: WM-778812, akt: AKT-2026-0042."
    assert final["updated_at"] == "2026-11-26T09:03:00.000+04:00"
    assert final["submitted_at"] == "2026-11-26T09:00:00.000+04:00"


async def test_a_redelivered_event_changes_nothing(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    number = "SQ-2026-000105"
    sent = [(key, body, await producer.publish(key, body)) for key, body in journey(number)]
    await producer.publish(
        "notification.delivered", notified(number, "application.completed", "sms")
    )
    before = await projected(
        number,
        lambda d: (
            d is not None
            and len(d["received"]["steps"]) == 4
            and len(d["received"]["notifications"]) == 1
            and not d.get("outbox")  # the portal updates published and taken out
        ),
    )

    for key, body, message_id in reversed(sent):
        await producer.publish(key, body, message_id=message_id)
    await producer.publish(
        "notification.delivered", notified(number, "application.completed", "sms")
    )
    # A later event of another application: once it is projected, the copies were too.
    await producer.publish("application.registered", registered("SQ-2026-000106"))
    await projected("SQ-2026-000106", steps(1))

    after = await projected(number, steps(4))
    assert after == before  # the version too: nothing was written


async def test_the_list_is_newest_first_and_has_no_timelines(
    producer: EventPublisher, portal: Portal, projected: Any
) -> None:
    numbers = ["SQ-2026-000110", "SQ-2026-000111", "SQ-2026-000112"]
    for minute, number in zip((5, 1, 9), numbers, strict=True):
        await producer.publish("application.registered", registered(number, minute=minute))
    for number in numbers:
        await projected(number, steps(1))

    listed = await portal.request("status.list_applications", {"applicant_fin": " 5abcd12 "})

    assert listed.message.type == "ListApplicationsReply"
    views = listed.body["applications"]
    assert [view["application_number"] for view in views] == [numbers[2], numbers[0], numbers[1]]
    assert all("timeline" not in view for view in views)
    assert all(view["status_label"] == "Qeydiyyata alındı" for view in views)
