"""The field apps' contract: ``work_order.assigned`` on ``meter.field``, in the registry's
AsyncAPI document, with what a team needs and nothing of the citizen's identity."""

from __future__ import annotations

from meterctl.asyncapi import document
from shared.contracts.field import WorkOrderAssigned, team_routing_key
from shared.topology import EXCHANGES

FIELDS = {
    "work_order_id",
    "application_number",
    "team_id",
    "subscriber_code",
    "address",
    "district_code",
    "reason_code",
    "additional_meter",
    "phone",
    "notes",
}


def test_a_work_order_goes_to_its_teams_key_on_the_field_topic_exchange() -> None:
    assert team_routing_key("T-01") == "team.T-01"
    assert (WorkOrderAssigned.exchange, EXCHANGES["meter.field"]) == ("meter.field", "topic")
    assert WorkOrderAssigned.message_type == "work_order.assigned"


def test_the_body_carries_no_fin_and_no_email() -> None:
    schema = WorkOrderAssigned.model_json_schema()
    assert set(schema["properties"]) == FIELDS
    assert set(schema["required"]) == FIELDS
    assert not {"applicant_fin", "email", "contact"} & set(schema["properties"])


def test_the_asyncapi_document_has_the_field_channel_and_its_message() -> None:
    found = document()
    channel = found["channels"]["work_order.assigned"]
    assert channel["address"] == "team.{team_id}"
    assert channel["bindings"]["amqp"]["exchange"]["name"] == "meter.field"
    assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
    assert set(channel["parameters"]) == {"team_id"}
    message = found["components"]["messages"]["WorkOrderAssigned"]
    assert message["bindings"]["amqp"]["messageType"] == "work_order.assigned"
    payload = found["components"]["schemas"]["WorkOrderAssigned"]
    assert set(payload["properties"]) == FIELDS
    operation = found["operations"]["WorkOrderAssigned"]
    assert operation["action"] == "send"
    assert operation["channel"] == {"$ref": "#/channels/work_order.assigned"}
