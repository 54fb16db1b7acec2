"""Dispatcher's pure rules: team choice, capacity days, stock arithmetic, report reading."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st

from services.dispatcher import domain
from services.dispatcher.domain import reports, stock
from services.dispatcher.reference import BadRow, team_row
from shared.contracts.commands import ReceiveStock, ReportOutcome
from shared.contracts.reading import Refusal, read_command
from tests.dispatcher.conftest import act

T01 = domain.Team("T-01", "A", ("BAK-NAS", "BAK-YAS"), 3)
T02 = domain.Team("T-02", "B", ("BAK-NAS",), 2)
T03 = domain.Team("T-03", "C", ("SUM-01",), 5)
AT = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def test_only_teams_serving_the_district_are_considered() -> None:
    assert domain.pick_team([T01, T02, T03], "SUM-01", {}) == T03
    assert domain.pick_team([T02, T03], "BAK-YAS", {}) is None


def test_prefers_the_least_loaded_team() -> None:
    assert domain.pick_team([T01, T02], "BAK-NAS", {"T-01": 2, "T-02": 1}) == T02


def test_ties_are_broken_by_team_id() -> None:
    assert domain.rank_teams([T02, T01], "BAK-NAS", {"T-01": 1, "T-02": 1}) == [T01, T02]


def test_a_team_at_its_capacity_is_not_chosen_even_when_least_loaded() -> None:
    assert domain.pick_team([T01, T02], "BAK-NAS", {"T-01": 3, "T-02": 2}) is None
    assert domain.pick_team([T01, T02], "BAK-NAS", {"T-01": 2, "T-02": 2}) == T01


def test_a_team_with_no_capacity_never_works() -> None:
    idle = domain.Team("T-00", "Idle", ("BAK-NAS",), 0)
    assert domain.pick_team([idle], "BAK-NAS", {}) is None


def test_the_capacity_day_is_the_baku_day() -> None:
    assert domain.capacity_day(datetime(2026, 11, 26, 19, 59, tzinfo=UTC)) == "2026-11-26"
    assert domain.capacity_day(datetime(2026, 11, 26, 20, 0, tzinfo=UTC)) == "2026-11-27"


def test_reasons_that_need_a_meter() -> None:
    assert domain.needs_meter("new_installation")
    assert domain.needs_meter("replace_verification_expired")
    assert not domain.needs_meter("relocate_meter")
    assert not domain.needs_meter("register_existing")


def test_work_order_ids_are_random_and_say_nothing_of_the_application() -> None:
    ids = {domain.new_work_order_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"WO-[0-9A-F]{16}", found) for found in ids)


def test_team_days_are_kept_for_a_week() -> None:
    assert domain.teams.oldest_day_kept(AT) == "2026-11-19"
    assert domain.teams.oldest_day_kept(datetime(2026, 11, 26, 20, 0, tzinfo=UTC)) == "2026-11-20"


def test_rejection_comments_are_sentences_in_the_applications_language() -> None:
    texts = {lang: domain.rejection_comment("no_meter_stock", lang) for lang in ("az", "en", "ru")}
    assert len(set(texts.values())) == 3
    assert all(text.endswith(".") for text in texts.values())
    assert domain.rejection_comment("unsuitable_water_line", "xx").startswith("Su xətti")


def test_reserving_stops_at_zero_and_is_idempotent() -> None:
    assert stock.reserve("D", None, "A") == (None, False), "no stock document: nothing free"
    doc, _ = stock.receive("D", None, 1, "r1", AT)
    doc, held = stock.reserve("D", doc, "A")
    assert held
    assert stock.reserve("D", doc, "A") == (None, True)
    assert stock.reserve("D", doc, "B") == (None, False)


def test_consuming_and_releasing_only_move_held_reservations() -> None:
    doc, _ = stock.receive("D", None, 2, "r1", AT)
    doc, _ = stock.reserve("D", doc, "A")
    doc, _ = stock.reserve("D", doc, "B")
    doc, _ = stock.consume("D", doc, "A")
    doc, _ = stock.release("D", doc, "B")
    assert stock.consume("D", doc, "A") == (None, False)
    assert stock.release("D", doc, "B") == (None, False)
    level = stock.stock_level("D", doc)
    assert (level.received, level.reserved, level.consumed, level.available) == (2, 0, 1, 1)


def test_a_receipt_counts_once_and_a_repeat_answers_the_free_meters_now() -> None:
    doc, first = stock.receive("D", None, 5, "r1", AT)
    assert first == stock.Receipt(in_stock=5, counted=True)
    doc, _ = stock.reserve("D", doc, "A")

    assert stock.receive("D", doc, 5, "r1", AT) == (None, stock.Receipt(4, counted=False))


def test_a_receipt_is_remembered_for_seven_days_and_forgotten_after_eight() -> None:
    doc, _ = stock.receive("D", None, 5, "r1", AT)
    week = AT + timedelta(days=7, hours=23)
    assert stock.receive("D", doc, 5, "r1", week) == (None, stock.Receipt(5, counted=False))
    doc, _ = stock.receive("D", doc, 1, "r2", week)
    assert doc is not None
    assert [seen["message_id"] for seen in doc["receipts"]] == ["r1", "r2"]

    later = AT + timedelta(days=8, seconds=1)
    doc, _ = stock.receive("D", doc, 1, "r3", later)  # each write drops what is too old
    assert doc is not None
    assert [seen["message_id"] for seen in doc["receipts"]] == ["r2", "r3"]
    assert stock.stock_level("D", doc).received == 7


def test_many_receipts_within_a_week_are_all_remembered() -> None:
    doc: dict[str, Any] | None = None
    for index in range(500):
        doc, _ = stock.receive("D", doc, 1, f"r{index}", AT + timedelta(minutes=index))
    assert stock.receive("D", doc, 1, "r0", AT + timedelta(days=6)) == (
        None,
        stock.Receipt(500, counted=False),
    )


def test_receipts_stored_without_a_time_are_kept_for_the_full_span() -> None:
    old = {"_id": "D", "received": 3, "consumed": 0, "reservations": [], "receipts": []}
    old["receipts"] = [{"message_id": "r0", "in_stock": 3}]  # as stored before times were kept
    doc, _ = stock.receive("D", old, 2, "r1", AT)
    assert doc is not None
    assert [(seen["message_id"], seen["at"]) for seen in doc["receipts"]] == [
        ("r0", "2026-11-26T06:00:00.000Z"),
        ("r1", "2026-11-26T06:00:00.000Z"),
    ]
    assert stock.receive("D", doc, 3, "r0", AT + timedelta(days=7)) == (
        None,
        stock.Receipt(5, counted=False),
    )


@hypothesis_given(
    st.lists(
        st.tuples(st.sampled_from(["receive", "reserve", "release", "consume"]), st.integers(0, 6)),
        max_size=60,
    )
)
def test_stock_always_balances_and_never_goes_negative(steps: list[tuple[str, int]]) -> None:
    doc: dict[str, Any] | None = None
    received = 0
    for index, (action, value) in enumerate(steps):
        if action == "receive":
            new, _ = stock.receive("D", doc, value + 1, f"r{index}", AT)
            received += value + 1
        else:
            new, _ = getattr(stock, action)("D", doc, f"A{value}")
        doc = new or doc
        level = stock.stock_level("D", doc)
        assert min(level.reserved, level.consumed, level.available) >= 0
        assert level.reserved + level.consumed + level.available == received
        if new is not None:  # a document written whole keeps the free count the store updates
            assert new["available"] == level.available


def test_a_document_written_before_available_gets_it_with_its_next_change() -> None:
    old = {"_id": "D", "received": 3, "consumed": 1, "reservations": ["A"], "receipts": []}
    doc, held = stock.reserve("D", old, "B")
    assert held
    assert doc is not None
    assert (doc["reservations"], doc["available"]) == (["A", "B"], 0)
    assert stock.reserve("D", old, "A") == (None, True), "nothing to write: it holds one"


def test_a_team_day_counts_each_work_order_once_up_to_capacity() -> None:
    day, _ = domain.claim(T02, "2026-11-26", None, "A")
    assert domain.claim(T02, "2026-11-26", day, "A") == (None, True)
    day, _ = domain.claim(T02, "2026-11-26", day, "B")
    assert domain.claim(T02, "2026-11-26", day, "C") == (None, False)
    day, given_back = domain.unclaim(day, "B")
    assert given_back
    assert day is not None
    assert day["orders"] == ["A"]


def body(outcome: str = "installed", **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "application_number": "SQ-2026-000001",
        "work_order_id": "WO-2026-000001",
        "team_id": "T-01",
        "outcome": outcome,
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not ...}


def codes(read: Any) -> list[str]:
    errors = read.errors if isinstance(read, Refusal) else read
    assert isinstance(errors, list)
    return [error.code.value for error in errors]


def read_report(values: dict[str, Any]) -> ReportOutcome | Refusal:
    return read_command(ReportOutcome, values)


def names(values: dict[str, Any]) -> reports.ReportNames:
    found = reports.names_of(read_report(values))
    assert found is not None
    return found


def test_a_complete_installed_report_is_read() -> None:
    read = read_report(body(act=act(), comment="ok"))
    assert isinstance(read, ReportOutcome)
    assert read.act is not None
    assert read.act.model_dump() == act()
    assert read.reason_code is None


def test_a_not_executed_report_needs_its_reason_and_no_act() -> None:
    assert codes(read_report(body("not_executed"))) == ["invalid_reason_code"]
    both = read_report(body("not_executed", act=act(), reason_code="x"))
    assert codes(both) == ["invalid_act", "invalid_reason_code"]
    read = read_report(body("not_executed", reason_code="no_meter_stock"))
    assert isinstance(read, ReportOutcome)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"act_number": ""}, "act.act_number"),
        ({"meter_serial": None}, "act.meter_serial"),
        ({"meter_model": 3}, "act.meter_model"),
        ({"initial_reading_m3": "-1"}, "act.initial_reading_m3"),
        ({"initial_reading_m3": "1,5"}, "act.initial_reading_m3"),
        ({"seal_numbers": "PL-1"}, "act.seal_numbers"),
        ({"seal_numbers": ["PL-1", ""]}, "act.seal_numbers"),
        ({"installed_at": "2026-11-26T10:00:00"}, "act.installed_at"),
        ({"installer_name": " "}, "act.installer_name"),
    ],
)
def test_each_act_field_has_its_rule(change: dict[str, Any], field: str) -> None:
    read = read_report(body(act=act(**change)))
    assert codes(read) == ["invalid_act"]
    assert isinstance(read, Refusal)
    assert read.errors[0].field == field
    assert read.errors[0].message.startswith("Akt düzgün deyil:")


def test_the_meter_model_may_be_empty() -> None:
    assert isinstance(read_report(body(act=act(meter_model=""))), ReportOutcome)


def test_state_rules_name_one_reason() -> None:
    order = {"_id": "SQ-2026-000001", "team_id": "T-01", "status": "assigned"}
    assert reports.state_errors(order, names(body())) == []
    assert codes(reports.state_errors(None, names(body()))) == ["unknown_work_order"]
    assert codes(reports.state_errors(order, names(body(team_id="T-09")))) == ["wrong_team"]
    closed = {**order, "status": "completed"}
    assert codes(reports.state_errors(closed, names(body()))) == ["work_order_closed"]
    assert codes(reports.state_errors(closed, names(body(team_id="T-09")))) == ["wrong_team"]


def test_a_work_order_closed_before_any_team_got_it_is_closed_for_every_team() -> None:
    closed = {"_id": "SQ-2026-000001", "status": "rejected"}
    assert codes(reports.state_errors(closed, names(body(team_id="T-09")))) == ["work_order_closed"]
    other = {"_id": "SQ-2026-000002", "team_id": "T-01", "status": "assigned"}
    assert codes(reports.state_errors(other, names(body()))) == ["unknown_work_order"]


def test_a_refused_report_still_names_its_work_order_when_the_names_arrived_as_text() -> None:
    refused = read_report(body(" not_executed ", application_number=" SQ-2026-000001 "))
    assert isinstance(refused, Refusal)
    assert reports.names_of(refused) == reports.ReportNames(
        "SQ-2026-000001", "WO-2026-000001", "T-01"
    )
    assert reports.names_of(read_report(body(team_id=" "))) is None
    assert reports.names_of(read_report(body(team_id=7))) is None
    order = {"_id": "SQ-2026-000001", "team_id": "T-02", "status": "assigned"}
    assert codes(reports.report_errors(refused, order)) == ["invalid_type", "wrong_team"]


def test_a_report_names_its_team_even_when_refused() -> None:
    assert reports.team_named(read_report(body())) == "T-01"
    assert reports.team_named(read_report(body(" done ", team_id=" T-02 "))) == "T-02"
    assert reports.team_named(read_report(body(team_id=" "))) is None
    assert reports.team_named(read_report(body(team_id=7))) is None
    assert codes([reports.forbidden_team()]) == ["forbidden"]
    assert reports.forbidden_team().field == "team_id"


def test_a_work_order_closed_by_this_very_report_is_its_own_answer() -> None:
    closed = {"_id": "SQ-2026-000001", "status": "completed", "report_message_id": "m-1"}
    assert reports.closed_by(closed, "m-1")
    assert not reports.closed_by(closed, "m-2"), "another report: work_order_closed"
    assert not reports.closed_by(closed, None)
    assert not reports.closed_by({**closed, "report_message_id": None}, None)
    assert not reports.closed_by(None, "m-1")


def test_a_receipt_is_a_district_and_a_positive_quantity() -> None:
    read = read_command(ReceiveStock, {"district_code": " GNC-01 ", "quantity": 3})
    assert isinstance(read, ReceiveStock)
    assert (read.district_code, read.quantity) == ("GNC-01", 3)
    assert codes(read_command(ReceiveStock, {"district_code": "GNC-01", "quantity": 0})) == [
        "invalid_type"
    ]


def test_a_team_row_is_read_with_its_districts() -> None:
    row = team_row(
        {
            "team_id": "T-01",
            "name": "Nəsimi",
            "district_codes": "BAK-NAS; BAK-YAS;",
            "daily_capacity": "4",
        }
    )
    assert row == domain.Team(
        team_id="T-01",
        name="Nəsimi",
        district_codes=("BAK-NAS", "BAK-YAS"),
        daily_capacity=4,
    )


def test_a_bad_team_row_says_everything_wrong_with_it() -> None:
    with pytest.raises(BadRow) as raised:
        team_row({"team_id": "T 1", "name": "", "district_codes": "", "daily_capacity": "-2"})
    text = str(raised.value)
    for part in ("team_id", "name is empty", "district_codes is empty", "daily_capacity"):
        assert part in text
