"""``meterctl apps overdue``: open applications past their due date, by district and team."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.dispatcher.domain import deadlines, withdrawals, workorders
from services.dispatcher.domain.workorders import Application, WorkOrder
from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import meterctl, team

AT = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


async def opened(
    store: MongoDispatcherStore,
    number: str,
    due_by: str,
    district: str = "BAK-NAS",
    reserved: bool | None = True,
) -> WorkOrder:
    app = Application(
        number=number,
        district_code=district,
        reason_code="new_installation",
        language="az",
        subscriber_code="1000001",
        sequence=1,
        applicant_fin="5ABCD12",
        due_by=due_by,
    )
    order_id = number.replace("SQ-", "WO-")
    work_order, events = workorders.opened(app, AT, reserved, None, order_id)
    assert await store.save_and_publish(work_order, events)
    stored = await store.work_order(number)
    assert stored is not None
    return stored


async def assign(store: MongoDispatcherStore, work_order: WorkOrder, team_id: str) -> None:
    changed, events = workorders.assigned(work_order, team(team_id, "BAK-NAS"), "d", AT)
    assert await store.save_and_publish(changed, events, replacing=work_order)


@pytest.fixture
async def several(store: MongoDispatcherStore) -> None:
    """Overdue on 10 December 2026: two waiting, two assigned to T-01, two of SUM-01 (one
    announced already: still overdue)."""
    await opened(store, "SQ-2026-000001", "2026-12-03")
    await opened(store, "SQ-2026-000002", "2026-12-01")
    await assign(store, await opened(store, "SQ-2026-000003", "2026-12-07"), "T-01")
    await assign(store, await opened(store, "SQ-2026-000004", "2026-12-02"), "T-01")
    await opened(store, "SQ-2026-000005", "2026-12-09", district="SUM-01")
    # Not overdue on 10 December: due that day, closed, withdrawn.
    await opened(store, "SQ-2026-000006", "2026-12-10")
    await opened(store, "SQ-2026-000007", "2026-11-30", reserved=False)  # rejected: no meter
    waiting = await opened(store, "SQ-2026-000008", "2026-11-30")
    changed, events = withdrawals.withdrawn(waiting, AT)
    assert await store.save_and_publish(changed, events, replacing=waiting)
    announced = await opened(store, "SQ-2026-000009", "2026-12-08", district="SUM-01")
    changed, events = deadlines.announced(announced, AT)
    assert await store.save_and_publish(changed, events, replacing=announced)


async def test_overdue_applications_are_listed_by_district_and_team_with_a_total(
    operator_env: None, several: None, capsys: Any
) -> None:
    assert await meterctl("apps", "overdue", "--today", "2026-12-10") == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Open applications past their due date, Asia/Baku date 2026-12-10",
        "BAK-NAS  team —",
        "  SQ-2026-000002  WO-2026-000002  due 2026-12-01    9 day(s) late  waiting",
        "  SQ-2026-000001  WO-2026-000001  due 2026-12-03    7 day(s) late  waiting",
        "BAK-NAS  team T-01",
        "  SQ-2026-000004  WO-2026-000004  due 2026-12-02    8 day(s) late  assigned",
        "  SQ-2026-000003  WO-2026-000003  due 2026-12-07    3 day(s) late  assigned",
        "SUM-01  team —",
        "  SQ-2026-000009  WO-2026-000009  due 2026-12-08    2 day(s) late  waiting",
        "  SQ-2026-000005  WO-2026-000005  due 2026-12-09    1 day(s) late  waiting",
        "6 overdue application(s)",
    ]


async def test_the_json_report_names_each_group_and_application(
    operator_env: None, several: None, capsys: Any
) -> None:
    assert await meterctl("apps", "overdue", "--json", "--today", "2026-12-10") == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["day"], report["total"]) == ("2026-12-10", 6)
    assert [(g["district_code"], g["team_id"]) for g in report["groups"]] == [
        ("BAK-NAS", None),
        ("BAK-NAS", "T-01"),
        ("SUM-01", None),
    ]
    assert report["groups"][1]["applications"][0] == {
        "application_number": "SQ-2026-000004",
        "work_order_id": "WO-2026-000004",
        "due_by": "2026-12-02",
        "days_late": 8,
        "status": "assigned",
    }


async def test_today_is_the_asia_baku_date_by_default(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    await opened(store, "SQ-2026-000001", "2020-01-01")
    await opened(store, "SQ-2026-000002", "2999-01-01")
    before = deadlines.baku_date(datetime.now(UTC)).isoformat()

    assert await meterctl("apps", "overdue", "--json") == 0

    after = deadlines.baku_date(datetime.now(UTC)).isoformat()
    report = json.loads(capsys.readouterr().out)
    [group] = report["groups"]
    [row] = group["applications"]
    assert row["application_number"] == "SQ-2026-000001"
    assert report["day"] in {before, after}  # the run may straddle midnight in Baku


async def test_with_nothing_overdue_the_total_is_zero(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    assert await meterctl("apps", "overdue") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 overdue application(s)"


async def test_a_bad_date_is_refused_with_one_line(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    with pytest.raises(SystemExit) as stopped:
        await meterctl("apps", "overdue", "--today", "10.12.2026")
    assert stopped.value.code == 2
    assert "'10.12.2026' is not a YYYY-MM-DD date" in capsys.readouterr().err
