"""Bodies and waits the security tests share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def submission(subscriber_code: str = "1000001", fin: str = "5ABCD12") -> dict[str, Any]:
    return {
        "submission_id": str(uuid.uuid4()),
        "applicant_fin": fin,
        "subscriber_code": subscriber_code,
        "reason_code": "new_installation",
        "phone": "050 123 45 67",
        "email": "citizen@example.az",
        "data_confirmed": True,
    }


def installed(number: str, work_order_id: str, team_id: str) -> dict[str, Any]:
    return {
        "application_number": number,
        "work_order_id": work_order_id,
        "team_id": team_id,
        "outcome": "installed",
        "act": {
            "act_number": f"AKT-{uuid.uuid4().hex[:6]}",
            "meter_serial": "WM-2026-000123",
            "meter_model": "Sensus 620",
            "initial_reading_m3": "0.000",
            "seal_numbers": ["S-1001"],
            "installed_at": "2026-11-26T10:00:00+04:00",
            "installer_name": "Əli Məmmədov",
        },
        "comment": "",
    }


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """``check()``'s first truthy answer, polled until ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s")
        await asyncio.sleep(0.1)
