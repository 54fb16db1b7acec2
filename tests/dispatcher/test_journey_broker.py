"""Withdrawal and overdue announcements over the real broker (docs/integration.md).

The rules (who may withdraw what, races staged write by write, the due-date rule) are in
``test_withdraw_rules`` and ``test_deadline_rules``; here are delivery, replies, the
housekeeping loop with a controlled clock, dispatchers racing, and the stock as the
operator sees it (``meterctl stock show``).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest

from services.dispatcher.main import create_app
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from shared.contracts.registry import reply_type
from tests.dispatcher.conftest import (
    MovableClock,
    given,
    meterctl,
    publish_registered,
    registered,
    team,
    withdrawal,
)
from tests.support.amqp import EventLog, Portal

pytestmark = pytest.mark.broker

WITHDRAW = "dispatcher.withdraw_application"


async def stock_row(district: str, capsys: Any) -> list[str]:
    """``meterctl stock show``'s row of ``district``: received, reserved, consumed, available."""
    capsys.readouterr()
    assert await meterctl("stock", "show") == 0
    [row] = [line.split() for line in capsys.readouterr().out.splitlines() if district in line]
    return row[1:]


async def test_a_withdrawal_frees_the_stock_and_is_published_once(
    operator_env: None,
    store: MongoDispatcherStore,
    events: EventLog,
    field_app: Portal,
    rabbitmq_url: str,
    capsys: Any,
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 3})
    body = registered("BAK-NAS")
    await publish_registered(rabbitmq_url, body)
    await events.wait_for("application.forwarded")
    assert await stock_row("BAK-NAS", capsys) == ["3", "1", "0", "2"]

    reply = await field_app.request(WITHDRAW, withdrawal(body))

    assert reply.body == {"outcome": "withdrawn"}
    assert reply.message.type == reply_type(WITHDRAW)
    [withdrawn] = await events.wait_for("application.withdrawn")
    stored = await store.work_order(body["application_number"])
    assert stored is not None
    assert withdrawn["sequence"] == 3
    assert withdrawn["work_order_id"] == stored["work_order_id"]
    assert await stock_row("BAK-NAS", capsys) == ["3", "0", "0", "3"]

    again = await field_app.request(WITHDRAW, withdrawal(body))
    assert again.body == {"outcome": "withdrawn"}
    await asyncio.sleep(0.6)  # housekeeping rounds and any late copy
    assert len(events.bodies("application.withdrawn")) == 1
    assert await stock_row("BAK-NAS", capsys) == ["3", "0", "0", "3"]


async def test_an_assigned_application_cannot_be_withdrawn_and_another_fin_finds_nothing(
    store: MongoDispatcherStore, events: EventLog, field_app: Portal, rabbitmq_url: str
) -> None:
    await given(store, [team("T-01", "BAK-NAS")], {"BAK-NAS": 3})
    body = registered("BAK-NAS", language="en")
    await publish_registered(rabbitmq_url, body)
    await events.wait_for("application.assigned")

    assigned = await field_app.request(WITHDRAW, withdrawal(body))
    stranger = await field_app.request(WITHDRAW, withdrawal(body, applicant_fin="7XYZ987"))

    assert assigned.codes() == ["cannot_withdraw"]
    assert assigned.body["errors"][0]["field"] == "application_number"
    assert assigned.body["errors"][0]["message"].startswith("The application can no longer")
    assert stranger.codes() == ["not_found"]
    assert events.bodies("application.withdrawn") == []


async def test_copies_of_a_withdrawal_racing_at_two_dispatchers_publish_once(
    dispatcher_settings: DispatcherSettings,
    store: MongoDispatcherStore,
    run_app: Any,
    rabbitmq_url: str,
    clock: MovableClock,
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=0)], {"BAK-NAS": 2})
    body = registered("BAK-NAS")
    async with AsyncExitStack() as stack:
        for _ in range(2):
            app = create_app(dispatcher_settings, configure_logging=False, clock=clock)
            await stack.enter_async_context(run_app(app))
        events = await stack.enter_async_context(EventLog(rabbitmq_url))
        portal = await stack.enter_async_context(Portal(rabbitmq_url))
        await publish_registered(rabbitmq_url, body)
        await events.wait_for("application.forwarded")

        replies = await asyncio.gather(
            *(portal.request(WITHDRAW, withdrawal(body)) for _ in range(8))
        )

        assert {reply.outcome for reply in replies} == {"withdrawn"}
        await events.wait_for("application.withdrawn")
        await asyncio.sleep(0.6)
        assert len(events.bodies("application.withdrawn")) == 1
    [level] = await store.stock_levels()
    assert (level.reserved, level.available) == (0, 2)


async def test_an_open_application_past_its_due_date_is_announced_overdue_once(
    store: MongoDispatcherStore,
    events: EventLog,
    field_app: Portal,
    rabbitmq_url: str,
    clock: MovableClock,
) -> None:
    await given(store, [team("T-01", "BAK-NAS", capacity=1)], {"BAK-NAS": 5, "BAK-YAS": 5})
    assigned = registered("BAK-NAS", due_by="2026-11-27")  # a service level of one day
    waiting = registered("BAK-YAS", due_by="2026-11-27")  # no team serves BAK-YAS
    withdrawn = registered("BAK-NAS", due_by="2026-11-27")
    for count, body in enumerate((assigned, waiting, withdrawn), 1):
        await publish_registered(rabbitmq_url, body)  # one after another: T-01 takes the first
        await events.wait_for("application.forwarded", count)
    reply = await field_app.request(WITHDRAW, withdrawal(withdrawn))
    assert reply.outcome == "withdrawn"
    await asyncio.sleep(0.5)
    assert events.bodies("application.overdue") == [], "not late on the day it is due"

    clock.now += timedelta(days=2)  # Saturday 28 November in Baku: one day late

    found = await events.wait_for("application.overdue", 2)
    await asyncio.sleep(1.0)  # five more housekeeping rounds
    assert len(events.bodies("application.overdue")) == 2
    by_number = {event["application_number"]: event for event in found}
    assert set(by_number) == {assigned["application_number"], waiting["application_number"]}
    late = by_number[assigned["application_number"]]
    assert (late["team_id"], late["due_by"], late["district_code"]) == (
        "T-01",
        "2026-11-27",
        "BAK-NAS",
    )
    assert late["occurred_at"] == "2026-11-28T10:00:00.000+04:00"
    late = by_number[waiting["application_number"]]
    assert (late["district_code"], late.get("team_id")) == ("BAK-YAS", None)
