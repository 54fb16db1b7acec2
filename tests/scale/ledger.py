"""What the system did, counted where it keeps it: applications (intake), work orders and
stock (dispatcher), and the e-mails and SMS the sinks received.

One replica and several must leave the same ledger: one number per submission, one work
order per application, exactly one meter consumed per installation, and per completed
application exactly three e-mails and three SMS (registered, forwarded, completed).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.mongo import make_client
from tests.scale.system import DISTRICTS, SPARE

STEPS = 3  # registered, forwarded, completed: each one e-mail and one SMS
SUBJECT = re.compile(r"^Subject: Müraciət (SQ-\d{4}-\d{6}): (.+)$", re.MULTILINE)


@dataclass
class Ledger:
    sent: int
    numbers: int  # distinct application numbers answered
    lost: int  # sent, but not completed with all six notifications
    duplicated: int  # numbers, work orders, meters or notifications beyond one each
    details: dict[str, Any]

    def line(self, label: str, seconds: float) -> str:
        return (
            f"{label}: applications sent {self.sent}, lost {self.lost}, duplicated "
            f"{self.duplicated} ({seconds:.1f} s; {json.dumps(self.details)})"
        )


def mails(directory: Path) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for path in directory.glob("*.txt"):
        match = SUBJECT.search(path.read_text(encoding="utf-8"))
        if match:
            found[(match.group(1), match.group(2))] += 1
    return found


def sms(directory: Path) -> Counter[str]:
    path = directory / "sms.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return Counter(json.loads(line)["reference"] for line in lines)


async def wait_for_notifications(
    mail_dir: Path, sms_dir: Path, numbers: set[str], timeout: float
) -> None:
    """Until every application has its e-mails and SMS (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mailed = {number for number, _ in mails(mail_dir)}
        texted = Counter(reference.split(":")[0] for reference in sms(sms_dir))
        if numbers <= mailed and all(texted[number] >= STEPS for number in numbers):
            subjects = Counter(number for number, _ in mails(mail_dir))
            if all(subjects[number] >= STEPS for number in numbers):
                return
        await asyncio.sleep(0.5)


async def count(
    mongo_url: str, prefix: str, sent: int, replies: list[str], mail_dir: Path, sms_dir: Path
) -> Ledger:
    client = make_client(mongo_url, "scale-tests")
    try:
        applications = await client[f"{prefix}intake"]["applications"].find().to_list()
        orders = await client[f"{prefix}dispatcher"]["work_orders"].find().to_list()
        stock = await client[f"{prefix}dispatcher"]["stock"].find().to_list()
    finally:
        await client.close()
    numbers = set(replies)
    completed = {order["_id"] for order in orders if order.get("status") == "completed"}
    mailed, texted = mails(mail_dir), sms(sms_dir)
    mail_steps = Counter(number for number, _ in mailed)
    sms_steps = Counter(reference.split(":")[0] for reference in texted)
    notified = {n for n in numbers if mail_steps[n] == STEPS and sms_steps[n] == STEPS}
    consumed = sum(int(district.get("consumed") or 0) for district in stock)
    received = sum(int(district.get("received") or 0) for district in stock)
    reserved = sum(len(district.get("reservations") or []) for district in stock)
    work_order_ids = Counter(order.get("work_order_id") for order in orders)
    duplicates = {
        "numbers": len(replies) - len(numbers) + len(applications) - len(numbers),
        "work_orders": len(orders)
        - len(numbers)
        + sum(n - 1 for n in work_order_ids.values() if n > 1),
        "meters": max(0, consumed - len(completed)),
        "emails": sum(n - 1 for n in mailed.values() if n > 1)
        + sum(max(0, n - STEPS) for n in mail_steps.values()),
        "sms": sum(n - 1 for n in texted.values() if n > 1)
        + sum(max(0, n - STEPS) for n in sms_steps.values()),
    }
    details = {
        "completed": len(completed),
        "emails": sum(mailed.values()),
        "sms": sum(texted.values()),
        "meters_consumed": consumed,
        "meters_left": received - consumed - reserved,
        "meters_reserved": reserved,
        "duplicates": {key: value for key, value in duplicates.items() if value},
    }
    assert received == sent + SPARE * len(DISTRICTS), details
    return Ledger(
        sent=sent,
        numbers=len(numbers),
        lost=sent - len(completed & notified),
        duplicated=sum(duplicates.values()),
        details=details,
    )
