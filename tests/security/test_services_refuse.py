"""With the broker's check opened on purpose, the services still refuse what a sender's role
does not allow: ``forbidden``, and no effect (no event, no stock change, no notification)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.contracts.registry import COMMANDS_EXCHANGE
from tests.security.conftest import System
from tests.security.deployment import open_topic_permission
from tests.security.support import installed, submission
from tests.support.amqp import EventLog, Portal

pytestmark = pytest.mark.broker


async def assigned_application(system: System, events: EventLog) -> dict[str, Any]:
    """A registered and assigned application, its notifications so far all sent."""
    deployment = system.deployment
    async with Portal(deployment.url("portal-egov"), deployment.name("portal-egov")) as portal:
        submitted = await portal.request("intake.submit_application", submission())
    assert submitted.outcome == "registered", submitted.body
    [assigned] = await events.wait_for("application.assigned")
    # registered and forwarded: an e-mail and an SMS each (an assignment tells no citizen).
    await events.wait_for("notification.delivered", 4)
    return assigned


async def stock_shown(system: System) -> str:
    code, out, err = await system.operator("stock", "show")
    assert code == 0, err
    return out


async def test_a_portal_past_the_broker_is_refused_dispatcher_commands_with_no_effect(
    system: System, rabbitmq_url: str
) -> None:
    deployment = system.deployment
    user = deployment.name("portal-egov")
    async with EventLog(rabbitmq_url) as events:
        assigned = await assigned_application(system, events)
        stock, seen = await stock_shown(system), len(events.received)
        sent = (len(system.mail.taken), len(system.sms.taken))

        open_topic_permission(rabbitmq_url, user, COMMANDS_EXCHANGE)
        async with Portal(deployment.url("portal-egov"), user) as portal:
            receipt = await portal.request(
                "dispatcher.receive_stock", {"district_code": "BAK-NAS", "quantity": 1000}
            )
            report = await portal.request(
                "dispatcher.report_outcome",
                {
                    **installed(**_work_order(assigned)),
                    "outcome": "not_executed",
                    "reason_code": "unsuitable_water_line",
                    "act": None,
                },
            )
        await asyncio.sleep(1.0)  # time for any effect to show
        assert receipt.codes() == ["forbidden"]
        assert receipt.body["errors"][0]["field"] == "user_id"
        assert report.codes() == ["forbidden"]
        assert len(events.received) == seen, [m.routing_key for m in events.received[seen:]]
    assert await stock_shown(system) == stock
    assert (len(system.mail.taken), len(system.sms.taken)) == sent


async def test_a_field_app_cannot_report_on_another_teams_work_order(
    system: System, rabbitmq_url: str
) -> None:
    deployment = system.deployment
    async with EventLog(rabbitmq_url) as events:
        assigned = await assigned_application(system, events)  # BAK-NAS: T-01 or T-03
        seen = len(events.received)
        user = deployment.name("field-regions")  # T-04 and T-05 only
        async with Portal(deployment.url("field-regions"), user) as field_app:
            as_the_team = await field_app.request(
                "dispatcher.report_outcome", installed(**_work_order(assigned))
            )
            as_its_own_team = await field_app.request(
                "dispatcher.report_outcome",
                installed(**{**_work_order(assigned), "team_id": "T-04"}),
            )
        await asyncio.sleep(1.0)
        assert as_the_team.codes() == ["forbidden"]
        assert as_the_team.body["errors"][0]["field"] == "team_id"
        assert as_its_own_team.codes() == ["wrong_team"]
        assert len(events.received) == seen


def _work_order(assigned: dict[str, Any]) -> dict[str, str]:
    return {
        "number": assigned["application_number"],
        "work_order_id": assigned["work_order_id"],
        "team_id": assigned["team_id"],
    }
