"""A portal registers an application over the real broker and gets its number."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

from tests.support.amqp import EventLog, Portal, drain, publish_event

pytestmark = pytest.mark.broker

REGISTRATION = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)


def submission(**overrides: Any) -> dict[str, Any]:
    body = {
        "submission_id": str(uuid.uuid4()),
        "applicant_fin": "5ABCD12",
        "subscriber_code": "1000001",
        "reason_code": "new_installation",
        "phone": "050 123 45 67",
        "email": "citizen@example.az",
        "notes": "Zəng etməzdən əvvəl xəbər verin.",
        "data_confirmed": True,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


async def test_a_valid_submission_is_registered_with_the_utilitys_text(
    portal: Portal, events: EventLog
) -> None:
    reply = await portal.request("intake.submit_application", submission())

    assert reply.outcome == "registered"
    number = reply.body["application_number"]
    assert re.fullmatch(r"SQ-\d{4}-\d{6}", number)
    assert reply.body["message"] == REGISTRATION.format(number)
    assert reply.message.type == "SubmitApplicationReply"
    assert reply.message.app_id == "intake"
    assert reply.message.delivery_mode == 2
    assert reply.message.content_type == "application/json"
    assert reply.message.message_id
    assert reply.message.timestamp

    [event] = await events.wait_for("application.registered")
    assert event["application_number"] == number
    assert event["sequence"] == 1
    assert event["channel"] == "e-gov"
    assert event["district_code"] == "BAK-NAS"
    assert event["contact"] == {"phone": "+994501234567", "email": "citizen@example.az"}
    assert event["additional_meter"] is False
    assert event["occurred_at"].endswith("+04:00")
    message = events.received[0]
    assert message.type == "application.registered"
    assert message.delivery_mode == 2


async def test_the_same_submission_id_twice_gives_one_application(
    portal: Portal, events: EventLog
) -> None:
    body = submission()
    first = await portal.request("intake.submit_application", body)
    # Whatever the body, the same id answers the stored registration.
    second = await portal.request(
        "intake.submit_application", {**body, "reason_code": "relocate_meter", "phone": "bad"}
    )

    assert first.body == second.body
    await events.wait_for("application.registered")
    await asyncio.sleep(0.5)
    assert len(events.bodies("application.registered")) == 1


async def test_concurrent_duplicates_register_once(portal: Portal, events: EventLog) -> None:
    body = submission()
    replies = await asyncio.gather(
        *(portal.request("intake.submit_application", body) for _ in range(8))
    )
    assert {reply.body["application_number"] for reply in replies} == {
        replies[0].body["application_number"]
    }
    await events.wait_for("application.registered")
    await asyncio.sleep(0.5)
    assert len(events.bodies("application.registered")) == 1


async def test_english_submission_gets_the_english_text(portal: Portal) -> None:
    reply = await portal.request("intake.submit_application", submission(language="en"))
    number = reply.body["application_number"]
    assert reply.body["message"].endswith(f"Your application number: {number}")


async def test_an_active_meter_asks_for_confirmation_then_registers_an_additional_meter(
    portal: Portal, events: EventLog
) -> None:
    body = submission(subscriber_code="1000002", reason_code="replace_faulty")
    asked = await portal.request("intake.submit_application", body)
    assert asked.outcome == "confirmation_required"
    assert asked.body["warning"]["code"] == "active_meter_exists"
    assert asked.body["warning"]["active_meters"] == [
        {"serial": "WM-2019-004512", "installed_on": "2019-04-11"}
    ]

    confirmed = await portal.request(
        "intake.submit_application", {**body, "additional_meter_confirmed": True}
    )
    assert confirmed.outcome == "registered"
    [event] = await events.wait_for("application.registered")
    assert event["additional_meter"] is True


async def test_numbers_increase(portal: Portal) -> None:
    first = await portal.request("intake.submit_application", submission())
    second = await portal.request(
        "intake.submit_application", submission(reason_code="relocate_meter")
    )
    assert second.body["application_number"] > first.body["application_number"]


async def test_a_submission_without_user_id_is_unauthenticated(portal: Portal) -> None:
    reply = await portal.request("intake.submit_application", submission(), user_id=None)
    assert reply.outcome == "refused"
    assert reply.codes() == ["unauthenticated"]


async def test_the_channel_comes_from_the_broker_user(
    portal: Portal, events: EventLog, rabbitmq_url: str
) -> None:
    # guest is mapped to e-gov; the body cannot choose its channel.
    reply = await portal.request("intake.submit_application", submission(channel="e-su"))
    assert reply.codes() == ["unknown_field"]


async def test_a_request_without_reply_to_is_still_processed(
    portal: Portal, events: EventLog
) -> None:
    await portal.send("intake.submit_application", submission(), reply=False)
    [event] = await events.wait_for("application.registered")
    assert event["subscriber_code"] == "1000001"


async def test_a_body_that_is_not_json_is_answered_and_parked(
    portal: Portal, rabbitmq_url: str
) -> None:
    reply = await portal.request("intake.submit_application", b"{not json")
    assert reply.codes() == ["malformed_message"]
    [parked] = await drain(rabbitmq_url, "intake.submit_application.dlq")
    assert parked.body == b"{not json"
    assert "not JSON" in parked.headers["x-error"]

    # The service keeps serving.
    after = await portal.request("intake.submit_application", submission())
    assert after.outcome == "registered"


async def test_json_of_the_wrong_shape_is_answered_and_parked(
    portal: Portal, rabbitmq_url: str
) -> None:
    reply = await portal.request("intake.submit_application", [1, 2, 3])
    assert reply.codes() == ["malformed_message"]
    [parked] = await drain(rabbitmq_url, "intake.submit_application.dlq")
    assert "JSON object" in parked.headers["x-error"]


async def test_a_malformed_body_without_reply_to_is_parked(
    portal: Portal, rabbitmq_url: str
) -> None:
    await portal.send("intake.submit_application", b"\xff\xfe", reply=False)
    [parked] = await drain(rabbitmq_url, "intake.submit_application.dlq", timeout=10)
    assert "UTF-8" in parked.headers["x-error"]


async def reject_then_register_again(portal: Portal, rabbitmq_url: str, number: str) -> Any:
    """Reject ``number`` as the dispatcher would, then submit a fresh copy of the default
    body until intake, having closed it, registers that copy; the copy's reply."""
    await publish_event(
        rabbitmq_url,
        "application.rejected",
        {
            "application_number": number,
            "occurred_at": "2026-11-27T10:00:00+04:00",
            "sequence": 3,
            "reason_code": "no_meter_stock",
            "comment": "Sayğac yoxdur.",
        },
    )
    for _ in range(50):
        again = await portal.request("intake.submit_application", submission())
        if again.outcome == "registered":
            return again
        await asyncio.sleep(0.1)
    raise AssertionError(f"a new submission was not registered after {number} closed")


async def test_a_submission_sent_again_after_its_application_closed_gets_its_first_reply(
    portal: Portal, events: EventLog, rabbitmq_url: str
) -> None:
    """Nothing blocks the body any more (its open slot is free), yet it registers nothing:
    the stored reply is found by its submission id, whatever the body."""
    body = submission()
    first = await portal.request("intake.submit_application", body)
    number = first.body["application_number"]
    fresh = await reject_then_register_again(portal, rabbitmq_url, number)

    for again in (body, {**body, "reason_code": "relocate_meter"}, {**body, "phone": "bad"}):
        reply = await portal.request("intake.submit_application", again)
        assert reply.body == first.body
    await events.wait_for("application.registered", 2)
    await asyncio.sleep(0.5)
    registered = [e["application_number"] for e in events.bodies("application.registered")]
    assert registered == [number, fresh.body["application_number"]]


async def test_a_closed_application_frees_its_subscriber_code_and_reason(
    portal: Portal, events: EventLog, rabbitmq_url: str
) -> None:
    first = await portal.request("intake.submit_application", submission())
    number = first.body["application_number"]
    blocked = await portal.request("intake.submit_application", submission())
    assert blocked.codes() == ["open_application_exists"]
    assert number in blocked.body["errors"][0]["message"]

    again = await reject_then_register_again(portal, rabbitmq_url, number)
    assert again.body["application_number"] != number
