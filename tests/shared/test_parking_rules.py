"""Which sender a parked message is replayed with: only what a service or the broker vouches for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meterctl.parking import Sender, describe, replay_headers, sender_of
from shared.messaging import ORIGINAL_APP_ID, ORIGINAL_ROUTING_KEY, ORIGINAL_USER_ID

FORGED = {
    ORIGINAL_USER_ID: "portal-esu",
    ORIGINAL_APP_ID: "forged-app",
    ORIGINAL_ROUTING_KEY: "dispatcher.receive_stock",
}


@dataclass
class Parked:
    """The properties of a message taken from a parking queue."""

    headers: dict[str, Any] = field(default_factory=dict)
    routing_key: str = "intake.submit_application"
    user_id: str | None = None
    app_id: str | None = None
    message_id: str = "m-1"
    body: bytes = b'{"a": 1}'


def dead_lettered_from(exchange: str, key: str) -> dict[str, Any]:
    return {"x-death": [{"exchange": exchange, "routing-keys": [key], "reason": "delivery_limit"}]}


def test_a_message_parked_by_its_service_keeps_the_services_record() -> None:
    parked = Parked(headers={**FORGED, "x-error": "boom"}, user_id=None)
    assert sender_of(parked) == Sender("dispatcher.receive_stock", "portal-esu", "forged-app")


def test_a_senders_own_publish_dead_lettered_by_the_broker_keeps_only_the_validated_user() -> None:
    headers = {**FORGED, **dead_lettered_from("meter.commands", "intake.submit_application")}
    parked = Parked(headers=headers, user_id="portal-egov", app_id="e-gov-portal")
    assert sender_of(parked) == Sender("intake.submit_application", "portal-egov", "e-gov-portal")
    replayed = replay_headers(parked, "intake.submit_application.dlq")
    assert replayed[ORIGINAL_USER_ID] == "portal-egov"
    assert replayed[ORIGINAL_APP_ID] == "e-gov-portal"
    assert replayed[ORIGINAL_ROUTING_KEY] == "intake.submit_application"
    assert "x-death" not in replayed


def test_a_services_retry_dead_lettered_by_the_broker_keeps_the_services_record() -> None:
    headers = {
        ORIGINAL_USER_ID: "portal-egov",
        ORIGINAL_ROUTING_KEY: "intake.submit_application",
        **dead_lettered_from("", "intake.submit_application"),
    }
    assert sender_of(Parked(headers=headers)).user_id == "portal-egov"


def test_an_unroutable_command_believes_none_of_its_headers() -> None:
    parked = Parked(headers=FORGED, routing_key="intake.typo", user_id="portal-egov")
    shown = describe(parked, straight_from_sender=True)
    assert (shown["sender"], shown["routing_key"]) == ("portal-egov", "intake.typo")
    assert shown["error"] == "no queue binds this routing key"


def test_a_replayed_message_starts_its_failure_count_again_and_says_where_it_came_from() -> None:
    parked = Parked(headers={"x-meter-failures": 5, "x-parked-at": "t", "x-trace": "kept"})
    headers = replay_headers(parked, "q.dlq")
    assert headers == {
        "x-trace": "kept",
        "x-replayed-from": "q.dlq",
        ORIGINAL_ROUTING_KEY: "intake.submit_application",
    }
