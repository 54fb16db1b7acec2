"""``meterctl teams`` and ``meterctl stock``: the operator's reference data for dispatch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.dispatcher.mongo import MongoDispatcherStore
from tests.dispatcher.conftest import level, meterctl

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"


async def test_the_demo_teams_and_stock_load(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    assert await meterctl("teams", "import", str(DEMO / "teams.csv")) == 0
    for line in (DEMO / "stock.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            district, quantity = line.split()
            assert await meterctl("stock", "receive", district, quantity) == 0

    teams = await store.teams()
    served = {district for team in teams for district in team.district_codes}
    assert served >= {"BAK-NAS", "BAK-YAS", "SUM-01", "GNC-01", "BAK-XAT"}
    levels = {found.district_code: found.available for found in await store.stock_levels()}
    # LNK-01 has meters but no team: the README's withdrawal waits there for a team.
    assert "LNK-01" not in served
    assert set(levels) == served | {"LNK-01"}
    assert all(available > 0 for available in levels.values())
    assert "imported 5 team(s)" in capsys.readouterr().out


async def test_importing_a_team_again_updates_it(
    operator_env: None, store: MongoDispatcherStore, tmp_path: Path
) -> None:
    csv = tmp_path / "teams.csv"
    csv.write_text("team_id,name,district_codes,daily_capacity\nT-01,A,BAK-NAS,2\n")
    assert await meterctl("teams", "import", str(csv)) == 0
    csv.write_text("team_id,name,district_codes,daily_capacity\nT-01,A,BAK-NAS;GNC-01,6\n")
    assert await meterctl("teams", "import", str(csv)) == 0

    [team] = await store.teams()
    assert (team.district_codes, team.daily_capacity) == (("BAK-NAS", "GNC-01"), 6)


async def test_a_file_with_a_bad_row_imports_nothing_and_names_the_lines(
    operator_env: None, store: MongoDispatcherStore, tmp_path: Path, capsys: Any
) -> None:
    csv = tmp_path / "teams.csv"
    csv.write_text(
        "team_id,name,district_codes,daily_capacity\n"
        "T-01,A,BAK-NAS,2\n"
        "T-02,B,,2\n"
        "T-03,C,SUM-01,many\n"
    )
    assert await meterctl("teams", "import", str(csv)) == 1

    errors = capsys.readouterr().err
    assert "line 3: district_codes is empty" in errors
    assert "line 4: daily_capacity 'many'" in errors
    assert await store.teams() == []


@pytest.mark.parametrize("quantity", ["0", "-1", "two", "1.5"])
async def test_stock_receive_needs_a_positive_whole_number(
    quantity: str, operator_env: None, store: MongoDispatcherStore
) -> None:
    assert await meterctl("stock", "receive", "GNC-01", quantity) == 2
    assert await store.stock_levels() == []


async def test_stock_receive_adds_and_stock_show_tells_the_balance(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    assert await meterctl("stock", "receive", "GNC-01", "3") == 0
    assert await meterctl("stock", "receive", "GNC-01", "2") == 0
    assert await store.reserve("GNC-01", "SQ-2026-000001")
    assert await meterctl("stock", "show") == 0

    out = capsys.readouterr().out
    assert "received 2 meter(s) into GNC-01; 5 available" in out
    assert out.splitlines()[-1].split() == ["GNC-01", "5", "1", "0", "4"]
    assert (await level(store, "GNC-01")).available == 4


async def test_a_receipt_sent_again_adds_nothing_and_reports_the_stock_now(
    operator_env: None, store: MongoDispatcherStore, capsys: Any
) -> None:
    assert await meterctl("stock", "receive", "GNC-01", "20", "--receipt", "INV-2026-117") == 0
    assert await store.reserve("GNC-01", "SQ-2026-000001")
    assert await store.reserve("GNC-01", "SQ-2026-000002")

    assert await meterctl("stock", "receive", "GNC-01", "20", "--receipt", "INV-2026-117") == 0

    first, again = capsys.readouterr().out.splitlines()
    assert first == "received 20 meter(s) into GNC-01; 20 available"
    assert again == (
        "receipt INV-2026-117 was counted before: nothing added to GNC-01; 18 available"
    )
    assert (await level(store, "GNC-01")).received == 20


async def test_teams_waiting_lists_the_work_orders_waiting_for_capacity(
    operator_env: None, store: MongoDispatcherStore, dispatcher_db: Any, capsys: Any
) -> None:
    await dispatcher_db["work_orders"].insert_one(
        {
            "_id": "SQ-2026-000007",
            "work_order_id": "WO-5F0C2A9B13D7E846",
            "district_code": "BAK-YAS",
            "status": "waiting",
            "created_at": "2026-11-26T06:00:00.000Z",
            "version": 1,
        }
    )
    assert await meterctl("teams", "waiting") == 0
    out = capsys.readouterr().out
    assert "WO-5F0C2A9B13D7E846  SQ-2026-000007  BAK-YAS" in out
    assert "1 work order(s) waiting" in out
