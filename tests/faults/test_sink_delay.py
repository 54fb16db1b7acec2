"""``devtools.sinks --delay-file``: a sink that stores a message, then answers late."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from devtools.sinks import MailSink, SmsSink, pause_from, serve_http, serve_smtp
from faults.procs import free_port, until


def email() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "no-reply@localhost"
    message["To"] = "citizen@example.az"
    message["Subject"] = "Müraciət SQ-2026-000001: Qeydiyyata alındı"
    message.set_content("Müraciətiniz qeydiyyata alındı.")
    return message


def test_the_delay_is_read_per_message_and_anything_unreadable_means_none(tmp_path: Path) -> None:
    path = tmp_path / "delay"
    pause = pause_from(path)
    assert pause() == 0.0
    path.write_text("1.5")
    assert pause() == 1.5
    path.write_text("-3")
    assert pause() == 0.0
    path.write_text("soon")
    assert pause() == 0.0
    assert pause_from(None)() == 0.0


async def test_a_slow_mail_sink_has_stored_the_email_before_it_answers(tmp_path: Path) -> None:
    delay = tmp_path / "delay"
    delay.write_text("0.8")
    port = free_port()
    server = await serve_smtp(MailSink(tmp_path, pause=pause_from(delay)), port)
    started = time.monotonic()
    sending = asyncio.create_task(aiosmtplib.send(email(), hostname="127.0.0.1", port=port))
    assert await until(lambda: any(tmp_path.glob("*.eml")), within=10, every=0.02)
    assert not sending.done()  # stored, not yet answered
    await sending
    assert time.monotonic() - started >= 0.8
    server.close()


async def test_a_slow_sms_gateway_has_stored_the_sms_before_it_answers(tmp_path: Path) -> None:
    delay = tmp_path / "delay"
    delay.write_text("0.8")
    port = free_port()
    server = await serve_http(SmsSink(tmp_path, pause=pause_from(delay)), port)
    body = {"to": "+994501234567", "text": "Salam", "reference": "SQ-1:application.x:sms"}
    async with httpx.AsyncClient() as client:
        posting = asyncio.create_task(client.post(f"http://127.0.0.1:{port}/messages", json=body))
        assert await until((tmp_path / "sms.jsonl").exists, within=10, every=0.02)
        assert not posting.done()
        answer = await posting
    assert answer.status_code == 200
    delay.write_text("0")
    server.close()
