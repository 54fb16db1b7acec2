"""A field-app user reports only for its own teams (``FIELD_USERS``), in-process.

The route has already checked that the sender is a field app at all
(``shared.routes``); the dispatcher checks the team the report names. A report for
another team is refused ``forbidden`` (field ``team_id``), answered, logged with the user,
and changes nothing, not even what a later copy of the same ``message_id`` is answered.
Over the broker: ``test_team_check_broker``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from structlog.testing import capture_logs

from shared.senders import Senders
from tests.dispatcher.conftest import (
    LocalDispatcher,
    MovableClock,
    given,
    level,
    registered,
    report,
    team,
)
from tests.support.inprocess import LocalPortal

SENDERS = Senders(
    channels={"portal-egov": "e-gov"},
    field_teams={
        "field-t01": frozenset({"T-01"}),
        "field-t02": frozenset({"T-02", "T-03"}),
        "field-all": frozenset({"*"}),
    },
    operations=frozenset({"meter-ops"}),
)


@pytest.fixture
def local(clock: MovableClock) -> LocalDispatcher:
    return LocalDispatcher(clock, SENDERS)


def app_of(local: LocalDispatcher, user: str) -> LocalPortal:
    return LocalPortal(local.routes, user_id=user)


@pytest.fixture
async def assigned(local: LocalDispatcher) -> dict[str, Any]:
    """One application in BAK-NAS assigned to T-01, its meter reserved."""
    await given(local.store, [team("T-01", "BAK-NAS"), team("T-02", "BAK-YAS")], {"BAK-NAS": 3})
    await local.publish_registered(registered("BAK-NAS"))
    [event] = await local.events.wait_for("application.assigned")
    return event


async def test_a_report_for_a_team_the_user_may_not_act_for_is_forbidden_with_no_effect(
    local: LocalDispatcher, assigned: dict[str, Any]
) -> None:
    with capture_logs() as logs:
        reply = await app_of(local, "field-t02").request(
            "dispatcher.report_outcome", report(assigned)
        )

    assert reply.outcome == "refused"
    assert [(e["field"], e["code"]) for e in reply.body["errors"]] == [("team_id", "forbidden")]
    assert reply.body["errors"][0]["message"]
    assert local.events.bodies("application.completed") == []
    stored = await local.store.work_order(assigned["application_number"])
    assert stored is not None
    assert stored["status"] == "assigned"
    stock = await level(local.store, "BAK-NAS")
    assert (stock.reserved, stock.consumed) == (1, 0)
    assert local.store.refusals == {}
    [line] = [entry for entry in logs if entry.get("user_id") == "field-t02"]
    assert (line["log_level"], line["team_id"]) == ("warning", "T-01")


async def test_a_forbidden_message_id_does_not_decide_the_answer_of_a_legitimate_copy(
    local: LocalDispatcher, assigned: dict[str, Any]
) -> None:
    message_id = str(uuid.uuid4())
    body = report(assigned)
    intruder, team_app = app_of(local, "field-t02"), app_of(local, "field-t01")

    first = await intruder.request("dispatcher.report_outcome", body, message_id=message_id)
    redelivered = await intruder.request("dispatcher.report_outcome", body, message_id=message_id)
    legitimate = await team_app.request("dispatcher.report_outcome", body, message_id=message_id)
    after = await intruder.request("dispatcher.report_outcome", body, message_id=message_id)

    assert first.codes() == redelivered.codes() == ["forbidden"], "a redelivery: the same"
    assert legitimate.outcome == "accepted"
    assert after.codes() == ["forbidden"], "the team's accepted report is not an intruder's"
    assert len(local.events.bodies("application.completed")) == 1


async def test_the_team_check_comes_before_the_work_orders_own_rules(
    local: LocalDispatcher, assigned: dict[str, Any]
) -> None:
    intruder = app_of(local, "field-t02")
    unknown = report(assigned, work_order_id="WO-0000000000000000", team_id="T-09")
    bad_act = report(assigned, act={"act_number": "AKT-1"})

    assert (await intruder.request("dispatcher.report_outcome", unknown)).codes() == ["forbidden"]
    assert (await intruder.request("dispatcher.report_outcome", bad_act)).codes() == ["forbidden"]


async def test_a_user_reports_for_each_of_its_teams_and_a_star_user_for_every_team(
    local: LocalDispatcher, assigned: dict[str, Any]
) -> None:
    as_t03 = report(assigned, team_id="T-03")
    reply = await app_of(local, "field-t02").request("dispatcher.report_outcome", as_t03)
    assert reply.codes() == ["wrong_team"], "its own team T-03: the work order's rule answers"

    reply = await app_of(local, "field-all").request("dispatcher.report_outcome", report(assigned))
    assert reply.outcome == "accepted"


async def test_a_report_naming_no_team_is_refused_for_its_shape_only(
    local: LocalDispatcher, assigned: dict[str, Any]
) -> None:
    reply = await app_of(local, "field-t02").request(
        "dispatcher.report_outcome", report(assigned, team_id=...)
    )
    assert reply.codes() == ["required"]


@pytest.mark.parametrize(
    ("user", "code"),
    [("portal-egov", "forbidden"), ("meter-ops", "forbidden"), (None, "unauthenticated")],
)
async def test_senders_outside_the_field_app_role_are_refused_before_any_team_check(
    local: LocalDispatcher, assigned: dict[str, Any], user: str | None, code: str
) -> None:
    app = LocalPortal(local.routes, user_id=user)
    reply = await app.request("dispatcher.report_outcome", report(assigned))
    assert [(e["field"], e["code"]) for e in reply.body["errors"]] == [("user_id", code)]
    assert local.events.bodies("application.completed") == []
