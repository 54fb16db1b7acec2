"""Events as the other services publish them, and a publisher that speaks only aio-pika."""

from __future__ import annotations

from typing import Any

from tests.support.amqp import EventPublisher

__all__ = ["EventPublisher"]

FIN = "5ABCD12"
ADDRESS = "Bakı şəhəri, Nəsimi rayonu, Əliyar Əliyev küçəsi 12, mənzil 4"
DUE_BY = "2026-12-10"
ACT = {
    "act_number": "AKT-2026-0042",
    "meter_serial": "WM-778812",
    "meter_model": "Sensus 620",
    "initial_reading_m3": "0.000",
    "seal_numbers": ["PL-1001", "PL-1002"],
    "installed_at": "2026-11-26T10:00:00+04:00",
    "installer_name": "Əli Məmmədov",
}


def at(minute: int) -> str:
    return f"2026-11-26T09:{minute:02d}:00.000+04:00"


def registered(
    number: str, fin: str = FIN, language: str = "az", minute: int = 0
) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": 1,
        "subscriber_code": "1000001",
        "applicant_fin": fin,
        "channel": "e-gov",
        "reason_code": "new_installation",
        "language": language,
        "district_code": "BAK-NAS",
        "additional_meter": False,
        "contact": {"phone": "+994501234567", "email": "citizen@example.az"},
        "notes": "",
        "address": ADDRESS,
        "due_by": DUE_BY,
    }


def forwarded(number: str, minute: int = 1) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": 2,
        "district_code": "BAK-NAS",
    }


def assigned(number: str, minute: int = 2) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": 3,
        "work_order_id": f"WO-{number}",
        "team_id": "T-01",
    }


def completed(number: str, minute: int = 3) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": 4,
        "outcome": "installed",
        "act": ACT,
    }


def rejected(number: str, sequence: int = 3, minute: int = 3) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": sequence,
        "reason_code": "no_meter_stock",
        "comment": "Rayonda sayğac ehtiyatı yoxdur.",
    }


def withdrawn(number: str, sequence: int = 3, minute: int = 3) -> dict[str, Any]:
    return {"application_number": number, "occurred_at": at(minute), "sequence": sequence}


def overdue(number: str, sequence: int = 4, minute: int = 4) -> dict[str, Any]:
    """``application.overdue``: a sequence of its own, yet no step."""
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "sequence": sequence,
        "due_by": DUE_BY,
        "district_code": "BAK-NAS",
        "team_id": "T-01",
    }


def notified(number: str, event: str, channel: str, minute: int = 5) -> dict[str, Any]:
    return {
        "application_number": number,
        "occurred_at": at(minute),
        "event": event,
        "channel": channel,
    }


def journey(number: str, fin: str = FIN) -> list[tuple[str, dict[str, Any]]]:
    """Registered, forwarded, assigned, completed: (routing key, body) in order."""
    return [
        ("application.registered", registered(number, fin)),
        ("application.forwarded", forwarded(number)),
        ("application.assigned", assigned(number)),
        ("application.completed", completed(number)),
    ]
