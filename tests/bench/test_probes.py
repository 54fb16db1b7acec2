"""Reading counters out of real Prometheus text, and the proxy's naming of wire messages."""

from __future__ import annotations

import struct

import bson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bench import snapshot
from bench.dbproxy import command_name
from bench.probes import counter_total, samples


def exposition(commands: int, handled: int, seconds: float, db_seconds: float = 0.001) -> str:
    registry = CollectorRegistry()
    db = Counter("meter_db_commands", "round trips", ("service",), registry=registry)
    db.labels("intake").inc(commands)
    answered = Histogram("meter_db_command_seconds", "answered", ("service",), registry=registry)
    for _ in range(commands):
        answered.labels("intake").observe(db_seconds)
    messages = Counter("meter_messages", "settled", ("queue", "outcome"), registry=registry)
    messages.labels("intake.submit_application", "handled").inc(handled)
    messages.labels("intake.submit_application", "retried").inc(1)
    histogram = Histogram("meter_handler_seconds", "time", ("queue",), registry=registry)
    for _ in range(handled):
        histogram.labels("intake.submit_application").observe(seconds)
    return generate_latest(registry).decode()


def test_a_counter_is_summed_over_its_labels_and_its_created_samples_are_ignored() -> None:
    text = exposition(commands=7, handled=2, seconds=0.01)
    assert counter_total(text, "meter_db_commands_total") == 7
    assert counter_total(text, "meter_db_commands") == 7
    assert counter_total(text, "meter_missing_total") is None
    assert sorted(labels["outcome"] for labels, _ in samples(text, "meter_messages_total")) == [
        "handled",
        "retried",
    ]


def test_two_readings_give_round_trips_outcomes_and_mean_handler_time_per_lifecycle() -> None:
    before = snapshot.Reading({"intake": 1.0}, {"intake": exposition(10, 2, 0.01)}, None)
    after = snapshot.Reading({"intake": 1.5}, {"intake": exposition(50, 6, 0.01, 0.004)}, None)
    costs = snapshot.costs(before, after, count=4)
    assert costs["cpu_ms_per_lifecycle"] == {"intake": 125.0}
    assert costs["db_round_trips_per_lifecycle"] == {"intake": 10.0, "total": 10.0}
    assert costs["messages_per_lifecycle_by_outcome"] == {"intake": {"handled": 1.0}}
    assert costs["handler_ms_mean"] == {"intake": 10.0}
    # 10 round trips of 1 ms before, 50 of 4 ms after: the 40 of the phase took 4.75 ms.
    assert costs["db_answer_ms_mean"] == {"intake": 4.75}


def test_cores_busy_are_cpu_seconds_per_second_and_unknown_when_a_reading_is_missing() -> None:
    before = {"database": 10.0, "intake": 2.0, "gone": 1.0}
    after = {"database": 29.6, "intake": 2.5, "gone": None}
    assert snapshot.cores_busy(before, after, 20.0) == {
        "database": 0.98,
        "intake": 0.03,
        "gone": None,
    }
    assert snapshot.cores_busy(before, after, 0.0)["database"] is None


def test_without_metrics_the_round_trips_are_unknown_not_zero() -> None:
    reading = snapshot.Reading({}, {"intake": None}, None)
    assert snapshot.db_round_trips(reading, reading, 10) == {"intake": None}


def test_the_proxy_names_an_op_msg_by_its_command_and_collection() -> None:
    body = bson.encode({"findAndModify": "jobs", "$db": "notifier"})
    payload = struct.pack("<I", 0) + b"\x00" + body
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013)
    assert command_name(header + payload) == "findAndModify jobs"
    body = bson.encode({"ping": 1, "$db": "admin"})
    payload = struct.pack("<I", 0) + b"\x00" + body
    header = struct.pack("<iiii", 16 + len(payload), 2, 0, 2013)
    assert command_name(header + payload) == "ping"
    assert command_name(struct.pack("<iiii", 16, 1, 0, 2004) + b"\x00" * 10) == "op2004"
