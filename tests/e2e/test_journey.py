"""The citizen's whole journey through `make run`'s supervisor: four service processes,
demo data, development sinks; the portal and the field app speak only AMQP and HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts.registry import COMMANDS, EVENTS, REPLIES
from tests.support.amqp import EventLog, Portal, Reply, wait_until_consumed
from tests.support.infra import free_port

pytestmark = [pytest.mark.broker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]
CONSUMED = (
    "intake.submit_application",
    "dispatcher.application_registered",
    "notifier.application_events",
    "status.application_events",
)


def conforms(routing_key: str, reply: Reply) -> None:
    """The reply matches one of its documented shapes (deploy/asyncapi.json)."""
    errors = []
    for model in REPLIES[COMMANDS[routing_key]]:
        try:
            model.model_validate(reply.body)
            return
        except ValueError as exc:
            errors.append(str(exc))
    raise AssertionError(f"{routing_key} reply {reply.body} fits no documented shape: {errors}")


async def eventually(check: Any, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {check.__name__}")
        await asyncio.sleep(0.25)


@pytest.fixture
def system(rabbitmq_url: str, mongo_url: str, tmp_path: Path) -> Any:
    port = free_port()
    env = {
        **os.environ,
        "RABBITMQ_URL": rabbitmq_url,
        "MONGO_URL": mongo_url,
        "DATABASE_PREFIX": f"e2e{uuid.uuid4().hex[:8]}_",
        "VAR_DIR": str(tmp_path),
        "STATUS_HTTP_PORT": str(port),
        "STATUS_API_KEYS": "e2e-key",
        "LOG_FORMAT": "json",
    }
    for name in ("SMTP_HOST", "SMS_GATEWAY_URL"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "run.log").open("w"),
    )
    yield {"http": f"http://127.0.0.1:{port}", "var": tmp_path, "process": process}
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


async def test_a_demo_application_is_followed_from_submission_to_completion(
    system: dict[str, Any], rabbitmq_url: str
) -> None:
    for queue in CONSUMED:
        await wait_until_consumed(rabbitmq_url, queue, timeout=90)

    async with EventLog(rabbitmq_url) as events, Portal(rabbitmq_url) as portal:
        submitted = await portal.request(
            "intake.submit_application",
            {
                "submission_id": str(uuid.uuid4()),
                "applicant_fin": "5ABCD12",
                "subscriber_code": "1000001",
                "reason_code": "new_installation",
                "phone": "050 123 45 67",
                "email": "citizen@example.az",
                "data_confirmed": True,
            },
        )
        assert submitted.outcome == "registered", submitted.body
        conforms("intake.submit_application", submitted)
        number = submitted.body["application_number"]

        [assigned] = await events.wait_for("application.assigned", timeout=30)
        assert assigned["application_number"] == number
        report = await portal.request(
            "dispatcher.report_outcome",
            {
                "application_number": number,
                "work_order_id": assigned["work_order_id"],
                "team_id": assigned["team_id"],
                "outcome": "installed",
                "act": {
                    "act_number": "AKT-2026-0001",
                    "meter_serial": "WM-2026-000123",
                    "meter_model": "Sensus 620",
                    "initial_reading_m3": "0.000",
                    "seal_numbers": ["S-1001", "S-1002"],
                    "installed_at": "2026-11-26T10:00:00+04:00",
                    "installer_name": "Əli Məmmədov",
                },
                "comment": "",
            },
        )
        assert report.body == {"outcome": "accepted"}
        conforms("dispatcher.report_outcome", report)
        await events.wait_for("application.completed", timeout=30)

        async def fully_notified() -> Any:
            view = await portal.request(
                "status.get_application", {"applicant_fin": "5ABCD12", "application_number": number}
            )
            delivered = [n for n in view.body.get("notifications", []) if n["state"] == "delivered"]
            done = view.body.get("status") == "completed" and len(delivered) == 6
            return view if done else None

        answer = await eventually(fully_notified, timeout=60)
        conforms("status.get_application", answer)
        view = answer.body
        await events.wait_for("notification.delivered", 6)
        for message in events.received:
            body = json.loads(message.body)
            EVENTS[message.routing_key or ""].model_validate(body)
            assert message.type == message.routing_key
        sequences = [
            json.loads(m.body)["sequence"]
            for m in events.received
            if (m.routing_key or "").startswith("application.")
        ]
        assert sorted(sequences) == [1, 2, 3, 4]

    assert [step["status"] for step in view["timeline"]] == [
        "completed",
        "assigned",
        "forwarded",
        "registered",
    ]
    assert view["status_label"] == "İcra edildi"
    assert view["act"]["act_number"] == "AKT-2026-0001"

    async with httpx.AsyncClient(base_url=system["http"]) as http:
        answer = await http.get(
            f"/v1/applications/{number}",
            headers={"Authorization": "Bearer e2e-key", "X-Applicant-Fin": "5ABCD12"},
        )
        assert answer.status_code == 200
        assert answer.json()["status"] == "completed"
        denied = await http.get(
            f"/v1/applications/{number}", headers={"X-Applicant-Fin": "5ABCD12"}
        )
        assert denied.status_code == 401

    mails = "\n".join(p.read_text() for p in (system["var"] / "mail").glob("*.txt"))
    assert f"Müraciət {number}: İcra edildi" in mails
    sms = [
        json.loads(line) for line in (system["var"] / "sms" / "sms.jsonl").read_text().splitlines()
    ]
    texts = [entry["text"] for entry in sms if number in entry["text"]]
    assert len(texts) == 3
    assert any("WM-2026-000123" in text and "AKT-2026-0001" in text for text in texts)
