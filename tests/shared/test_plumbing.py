"""Shared plumbing: log masking, retry delays, topology definitions, CSV reading."""

from __future__ import annotations

from pathlib import Path

from meterctl.csvfile import read_rows
from services.intake.reference import SUBSCRIBER_COLUMNS, subscriber_row
from shared.consuming import retry_delay
from shared.definitions import definitions
from shared.logging import mask
from shared.topology import ALL_QUEUES, BROKER_DELIVERY_LIMIT, FAILURE_LIMIT


def test_phone_numbers_and_emails_are_masked_but_numbers_and_ids_are_not() -> None:
    text = "+994501234567 / 050 123 45 67 / citizen@example.az / SQ-2026-000001"
    assert mask(text) == "+994*******67 / +994*******67 / c***@example.az / SQ-2026-000001"
    assert mask({"contact": {"email": "x.y@mail.az"}}) == {"contact": {"email": "x***@mail.az"}}
    assert mask("501234567 (55) 123-45-67") == "+994*******67 +994*******67"
    assert mask("ülvi.m@example.az") == "ü***@example.az"
    assert mask("WO-2026-000001 2026-11-27T10:00:00+04:00") == (
        "WO-2026-000001 2026-11-27T10:00:00+04:00"
    )


def test_retry_delays_grow_and_are_capped() -> None:
    delays = [retry_delay(attempt) for attempt in range(8)]
    assert delays == sorted(delays)
    assert delays[0] < delays[3]
    assert max(delays) == 8.0


def test_every_work_queue_is_quorum_with_a_limit_and_its_own_parking_queue() -> None:
    spec = definitions()
    queues = {queue["name"]: queue for queue in spec["queues"]}
    for work in ALL_QUEUES:
        arguments = queues[work.name]["arguments"]
        assert arguments["x-queue-type"] == "quorum"
        # The service parks at 5 failures of its own; the broker's limit is only a backstop.
        assert arguments["x-delivery-limit"] == BROKER_DELIVERY_LIMIT > FAILURE_LIMIT == 5
        assert arguments["x-dead-letter-exchange"] == "meter.dlx"
        assert arguments["x-dead-letter-routing-key"] == work.name
        assert work.parking_queue in queues
    parking = [b for b in spec["bindings"] if b["source"] == "meter.dlx"]
    assert {(b["routing_key"], b["destination"]) for b in parking} == {
        (work.name, f"{work.name}.dlq") for work in ALL_QUEUES
    }


def test_a_csv_with_bad_rows_reports_each_with_its_line_and_imports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "subscribers.csv"
    path.write_text(
        "subscriber_code,applicant_fin,address,district_code,active_meter_serials\n"
        '1000001,5ABCD12,"Bakı, Azadlıq pr. 12",BAK-NAS,\n'
        "1000002,bad,,BAK-NAS,\n"
        '1000001,5ABCD12,"again",BAK-NAS,WM-1;WM-2@2020-01-02\n',
        encoding="utf-8",
    )
    rows, errors = read_rows(
        path, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda r: r.subscriber_code
    )
    assert [error.line for error in errors] == [3, 4]
    assert "applicant_fin" in errors[0].message
    assert "address is empty" in errors[0].message
    assert "duplicate" in errors[1].message
    assert rows[0].address == "Bakı, Azadlıq pr. 12"


def test_serials_are_split_and_may_carry_an_installation_date(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        "subscriber_code,applicant_fin,address,district_code,active_meter_serials\n"
        "1,5abcd12,A,D, WM-1 ; WM-2@2020-01-02 \n",
        encoding="utf-8",
    )
    rows, errors = read_rows(
        path, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda r: r.subscriber_code
    )
    assert errors == []
    assert rows[0].applicant_fin == "5ABCD12"
    assert [meter.model_dump() for meter in rows[0].active_meters] == [
        {"serial": "WM-1", "installed_on": None},
        {"serial": "WM-2", "installed_on": "2020-01-02"},
    ]


def test_a_missing_column_is_reported_on_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("subscriber_code,address\n1,A\n", encoding="utf-8")
    _, errors = read_rows(path, SUBSCRIBER_COLUMNS, subscriber_row, key=lambda r: r.subscriber_code)
    assert errors[0].line == 1
    assert "applicant_fin" in errors[0].message
