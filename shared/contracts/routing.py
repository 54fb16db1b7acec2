"""Routing keys and message names of the external contract (DESIGN.md sections 3-4b)."""

from __future__ import annotations

COMMANDS_EXCHANGE = "meter.commands"
EVENTS_EXCHANGE = "meter.events"
DEAD_LETTER_EXCHANGE = "meter.dlx"

# routing key -> message name (the AMQP ``type`` of the command; replies add "Reply")
COMMANDS: dict[str, str] = {
    "intake.list_reasons": "ListReasons",
    "intake.list_subscriber_accounts": "ListSubscriberAccounts",
    "intake.check_subscriber": "CheckSubscriber",
    "intake.submit_application": "SubmitApplication",
    "status.get_application": "GetApplication",
    "status.list_applications": "ListApplications",
    "dispatcher.report_outcome": "ReportOutcome",
    "dispatcher.receive_stock": "ReceiveStock",
}

APPLICATION_REGISTERED = "application.registered"
APPLICATION_FORWARDED = "application.forwarded"
APPLICATION_ASSIGNED = "application.assigned"
APPLICATION_COMPLETED = "application.completed"
APPLICATION_REJECTED = "application.rejected"
NOTIFICATION_DELIVERED = "notification.delivered"
NOTIFICATION_FAILED = "notification.failed"


def reply_type(routing_key: str) -> str:
    return COMMANDS[routing_key] + "Reply"
