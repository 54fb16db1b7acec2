"""``python -m devtools.sinks``: what ``make run`` would have sent lands in files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from tests.support.infra import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
StartSink = Callable[[str], tuple[int, Path]]


def wait_for_files(directory: Path, pattern: str, count: int) -> list[Path]:
    deadline = time.monotonic() + 15
    while len(found := sorted(directory.glob(pattern))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} {pattern} in {directory}, got {found}")
        time.sleep(0.05)
    return found


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[StartSink]:
    processes: list[subprocess.Popen[bytes]] = []

    def start(kind: str) -> tuple[int, Path]:
        port, directory = free_port(), tmp_path / kind
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "devtools.sinks", kind, str(port), str(directory)],
                cwd=ROOT,
            )
        )
        wait_for_port("127.0.0.1", port)
        return port, directory

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_the_mail_sink_writes_each_email_and_a_readable_copy(sink: StartSink) -> None:
    port, directory = sink("mail")
    message = EmailMessage()
    message["From"] = "no-reply@localhost"
    message["To"] = "citizen@example.az"
    message["Subject"] = "Müraciət SQ-2026-000001: Qeydiyyata alındı"
    message.set_content("Müraciətiniz qeydiyyata alındı.")
    message.add_alternative("<p>Müraciətiniz qeydiyyata alındı.</p>", subtype="html")

    await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

    [eml] = wait_for_files(directory, "*.eml", 1)
    [txt] = wait_for_files(directory, "*.txt", 1)
    assert b"Subject: =?utf-8?" in eml.read_bytes()
    readable = txt.read_text("utf-8")
    assert "Subject: Müraciət SQ-2026-000001: Qeydiyyata alındı" in readable
    assert "To: citizen@example.az" in readable
    assert "Parts: text/plain, text/html" in readable
    assert "Müraciətiniz qeydiyyata alındı." in readable


async def test_the_mail_sink_saves_each_attachment_next_to_the_eml_inside_its_directory(
    sink: StartSink,
) -> None:
    port, directory = sink("mail")
    message = EmailMessage()
    message["From"] = "no-reply@localhost"
    message["To"] = "citizen@example.az"
    message["Subject"] = "Müraciət SQ-2026-000001: İcra edildi"
    message.set_content("Quraşdırma aktının nüsxəsi məktuba əlavə edilib.")
    pdf = b"%PDF-1.7 not really\x00\xff"
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="akt-AKT-1.pdf")
    message.add_attachment(b"x", maintype="application", subtype="pdf", filename="../../up.pdf")

    await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

    [eml] = wait_for_files(directory, "*.eml", 1)
    [txt] = wait_for_files(directory, "*.txt", 1)
    stem = eml.stem
    assert (directory / f"{stem}-akt-AKT-1.pdf").read_bytes() == pdf
    assert (directory / f"{stem}-up.pdf").read_bytes() == b"x"  # never outside the directory
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        [eml.name, txt.name, f"{stem}-akt-AKT-1.pdf", f"{stem}-up.pdf"]
    )
    readable = txt.read_text("utf-8")
    assert f"Files: {stem}-akt-AKT-1.pdf, {stem}-up.pdf" in readable
    assert "Parts: text/plain, application/pdf, application/pdf" in readable


async def test_the_mail_sink_reads_an_smtputf8_mail_with_raw_utf8_headers(
    sink: StartSink,
) -> None:
    port, directory = sink("mail")
    message = EmailMessage(policy=policy.SMTPUTF8)
    message["From"] = "no-reply@localhost"
    message["To"] = "vətəndaş@example.az"
    message["Subject"] = "Müraciət SQ-2026-000001: İcra edildi"
    message.set_content("Akt əlavə edilib.")
    message.add_attachment(
        b"%PDF", maintype="application", subtype="pdf", filename="akt surəti.pdf"
    )

    await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

    [eml] = wait_for_files(directory, "*.eml", 1)
    [txt] = wait_for_files(directory, "*.txt", 1)
    assert "Subject: Müraciət SQ-2026-000001: İcra edildi".encode() in eml.read_bytes()
    readable = txt.read_text("utf-8")
    assert "Subject: Müraciət SQ-2026-000001: İcra edildi" in readable
    assert "To: vətəndaş@example.az" in readable
    assert "Akt əlavə edilib." in readable
    assert (directory / f"{eml.stem}-akt_surəti.pdf").read_bytes() == b"%PDF"
    assert "Message-ID: \n" in readable  # none given: an empty line, not "None"


async def test_the_sms_sink_answers_the_gateway_contract_and_keeps_each_sms(
    sink: StartSink,
) -> None:
    port, directory = sink("sms")
    body = {"to": "+994501234567", "text": "Salam, ə", "reference": "SQ-1:application.x:sms"}

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"http://127.0.0.1:{port}/messages", json=body, headers={"Authorization": "Bearer t"}
        )
        refused = await client.post(f"http://127.0.0.1:{port}/messages", json={"to": 1})

    assert response.status_code == 200
    assert response.json()["id"]
    assert refused.status_code == 400
    [line] = (directory / "sms.jsonl").read_text("utf-8").splitlines()
    record = json.loads(line)
    assert record["id"] == response.json()["id"]
    assert {key: record[key] for key in body} == body
    assert record["encoding"] == "ucs2"
    assert record["parts"] == 1
    assert record["bearer"] is True
    [txt] = wait_for_files(directory, "*.txt", 1)
    assert "Salam, ə" in txt.read_text("utf-8")


async def test_the_sms_sink_keeps_a_connection_open_for_the_next_sms_as_a_gateway_does(
    sink: StartSink,
) -> None:
    port, directory = sink("sms")
    peers: set[Any] = set()
    async with httpx.AsyncClient() as client:
        for n in range(3):
            response = await client.post(
                f"http://127.0.0.1:{port}/messages",
                json={"to": "+994501234567", "text": f"SMS {n}", "reference": f"r-{n}"},
                extensions={"trace": lambda name, info: _note_peer(name, info, peers)},
            )
            assert response.status_code == 200
            assert response.headers["connection"] == "keep-alive"

    assert len(peers) == 1, "one connection carried the three"
    assert len((directory / "sms.jsonl").read_text("utf-8").splitlines()) == 3


async def _note_peer(name: str, info: dict[str, Any], peers: set[Any]) -> None:
    if name == "connection.connect_tcp.complete":
        peers.add(info["return_value"].get_extra_info("sockname"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_sink_stops_on_a_signal(tmp_path: Path, signum: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.sinks", "sms", str(port), str(tmp_path)], cwd=ROOT
    )
    try:
        wait_for_port("127.0.0.1", port)
        process.send_signal(signum)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
