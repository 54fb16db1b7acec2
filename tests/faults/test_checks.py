"""Counting a scenario's end state: lost applications, effects twice, stock."""

from __future__ import annotations

from faults.checks import Stock, judge, parse_stock
from faults.ledger import Sent, tally
from faults.people import Applicant
from faults.portal import Submission
from faults.report import Row

STEPS = ("application.registered", "application.forwarded", "application.completed")
SHOWN = """district     received reserved consumed available
BAK-NAS            20        0        0        20
FLT-01            110        2        5       103
"""


def notified(applicant: Applicant, steps: tuple[str, ...] = STEPS) -> list[Sent]:
    return [Sent("email", applicant.email, step, f"<{step}>") for step in steps] + [
        Sent("sms", applicant.phone, step, step) for step in steps
    ]


def registered(index: int, *numbers: str) -> Submission:
    submission = Submission(Applicant(index))
    submission.number = numbers[0] if numbers else None
    submission.numbers = set(numbers)
    return submission


def test_the_districts_line_of_stock_show_is_read() -> None:
    assert parse_stock(SHOWN, "FLT-01") == {
        "received": 110,
        "reserved": 2,
        "consumed": 5,
        "available": 103,
    }
    assert parse_stock(SHOWN, "NOWHERE") is None


def test_stock_counted_beyond_receipts_and_installations_is_twice() -> None:
    stock = Stock(parse_stock(SHOWN, "FLT-01"), received=100, installed=4, still_open=2)
    assert stock.twice() == 10 + 1
    assert stock.problems() == []


def test_stock_that_does_not_add_up_or_keeps_reservations_is_reported() -> None:
    line = {"received": 10, "reserved": 3, "consumed": 5, "available": 1}
    problems = Stock(line, received=10, installed=5, still_open=0).problems()
    assert any("does not add up" in p for p in problems)
    assert any("reserved 3, 0 applications open" in p for p in problems)


def test_a_fully_served_application_is_neither_lost_nor_twice() -> None:
    done = registered(0, "SQ-2026-000001")
    row = Row("s", 1)
    judge(
        row,
        [done],
        {"SQ-2026-000001": "completed"},
        {"SQ-2026-000001": {"WO-1"}},
        tally(notified(done.applicant)),
        tally(notified(done.applicant)),
    )
    assert (row.lost, row.twice) == (0, 0)
    assert row.passed is False  # not recovered yet: recover_seconds is None
    row.recover_seconds = 1.0
    assert row.passed


def test_an_application_lacking_anything_is_lost_once_with_every_reason() -> None:
    short = registered(0, "SQ-2026-000001")
    never = registered(1)
    sent = notified(short.applicant, STEPS[:2])
    row = Row("s", 2)
    judge(
        row,
        [short, never],
        {"SQ-2026-000001": "assigned"},
        {},
        tally(sent),
        tally(sent),
    )
    assert row.lost == 2
    reasons = row.details["lost_because"]
    assert reasons["registration"] == 1
    assert reasons["completion (status assigned)"] == 1
    assert reasons["work order"] == 1
    assert reasons["e-mail completed"] == 2
    assert reasons["SMS registered"] == 1


def test_second_numbers_work_orders_and_notifications_are_counted_twice() -> None:
    twice = registered(0, "SQ-2026-000001", "SQ-2026-000002")
    sent = notified(twice.applicant) + notified(twice.applicant, STEPS[:1])
    row = Row("s", 1)
    judge(
        row,
        [twice],
        {"SQ-2026-000001": "completed"},
        {"SQ-2026-000001": {"WO-1", "WO-2"}},
        tally(sent),
        tally(sent),
    )
    assert (row.twice_email, row.twice_sms) == (1, 1)
    assert row.twice_work_orders == 1 + 1  # a second work order, a second registration
    assert row.details["registered_twice"] == 1
