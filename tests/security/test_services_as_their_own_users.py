"""Every service starts and works as its own ``svc-*`` user with only its permissions."""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest

from shared.contracts.registry import Service
from tests.security.conftest import System
from tests.security.support import eventually, installed, submission
from tests.support.amqp import EventLog, Portal
from tests.support.infra import VhostAdmin

pytestmark = pytest.mark.broker


async def test_an_application_goes_from_a_portal_through_every_service_to_completion(
    system: System, rabbitmq_url: str
) -> None:
    deployment = system.deployment
    async with (
        EventLog(rabbitmq_url) as events,
        Portal(deployment.url("portal-egov"), deployment.name("portal-egov")) as portal,
        Portal(deployment.url("field-baku"), deployment.name("field-baku")) as field_app,
    ):
        submitted = await portal.request("intake.submit_application", submission())
        assert submitted.outcome == "registered", submitted.body
        number = submitted.body["application_number"]
        [assigned] = await events.wait_for("application.assigned")
        assert assigned["team_id"] in {"T-01", "T-03"}  # BAK-NAS, both field-baku's

        report = await field_app.request(
            "dispatcher.report_outcome",
            installed(number, assigned["work_order_id"], assigned["team_id"]),
        )
        assert report.body == {"outcome": "accepted"}
        await events.wait_for("application.completed")

        async def completed() -> dict[str, object] | None:
            view = await portal.request(
                "status.get_application", {"applicant_fin": "5ABCD12", "application_number": number}
            )
            return view.body if view.body.get("status") == "completed" else None

        view = await eventually(completed)
        # Nothing ran as the administrator but this test's own observer.
        services = {deployment.service(service) for service in Service}
        expected = {"guest", deployment.name("portal-egov"), deployment.name("field-baku")}
        connected = await eventually(lambda: _connected(rabbitmq_url, {*expected, *services}))
    assert view["channel"] == "e-gov"
    assert connected == {*expected, *services}
    await eventually(lambda: _mails_about(system, number))


async def test_operations_rebuild_the_read_model_with_their_own_permissions(
    system: System,
) -> None:
    deployment = system.deployment
    async with Portal(deployment.url("portal-egov"), deployment.name("portal-egov")) as portal:
        submitted = await portal.request("intake.submit_application", submission())
    assert submitted.outcome == "registered", submitted.body
    # meter-ops may read the archive and publish its marks, but not declare anything.
    code, out, err = await system.operator("status", "rebuild", "--idle-timeout", "10")
    assert code == 0, err
    report = json.loads(out.splitlines()[-1])
    assert report["applications"] == 1
    assert report["events"] >= 1


async def _connected(vhost_url: str, expected: set[str]) -> set[str] | None:
    """The users connected to the vhost, once the management API lists all expected."""
    vhost = urllib.parse.urlsplit(vhost_url).path.lstrip("/")
    listed = await asyncio.to_thread(VhostAdmin(vhost_url).get, f"vhosts/{vhost}/connections")
    users = {str(connection["user"]) for connection in listed}  # type: ignore[attr-defined]
    return users if users >= expected else None


async def _mails_about(system: System, number: str) -> bool:
    return sum(number in text for text in system.mail.texts()) >= 3
