"""One contract for intake's store, run against the in-memory fake and MongoDB alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.domain import Account, Application
from services.intake.mongo import MongoIntakeStore
from services.intake.store import DuplicateSubmission, IntakeStore, OpenApplicationExists
from shared.contracts.events import ApplicationRegistered, Contact
from shared.contracts.replies import ActiveMeter, Registered
from shared.mongo import make_client
from shared.outbox import Outbox
from tests.intake.fakes import MemoryIntakeStore
from tests.support.recording import RecordingMessenger

ACCOUNTS = [
    Account("1000002", "5ABCD12", "Bakı, 2", "BAK-NAS", (ActiveMeter(serial="WM-1"),)),
    Account("1000001", "5ABCD12", "Bakı, 1", "BAK-NAS"),
    Account("2000001", "7ZZZZ99", "Gəncə", "GNC-01"),
]


@dataclass
class Subject:
    store: IntakeStore
    published: Any  # () -> list of published event routing keys and numbers


@pytest.fixture
async def memory_subject() -> Subject:
    store = MemoryIntakeStore()
    await store.upsert_subscribers(ACCOUNTS)
    return Subject(store, lambda: [(e.routing_key, e.application_number) for e in store.published])


@pytest.fixture
async def mongo_subject(mongo_url: str) -> AsyncIterator[Subject]:
    client = make_client(mongo_url, "tests")
    db = client[f"t{uuid.uuid4().hex[:10]}_intake"]
    messenger = RecordingMessenger()
    store = MongoIntakeStore(db, Outbox(messenger))  # type: ignore[arg-type]
    await store.ensure_indexes()
    await store.upsert_subscribers(ACCOUNTS)
    yield Subject(
        store, lambda: [(p.routing_key, p.body["application_number"]) for p in messenger.published]
    )
    await client.drop_database(db.name)
    await client.close()


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.store)])
def subject(request: pytest.FixtureRequest) -> Subject:
    return request.getfixturevalue(f"{request.param}_subject")  # type: ignore[no-any-return]


def application(number: str, submission_id: str, code: str = "1000001") -> Application:
    return Application(
        number=number,
        submission_id=submission_id,
        open_key=f"{code}|new_installation",
        applicant_fin="5ABCD12",
        subscriber_code=code,
        reason_code="new_installation",
        channel="e-gov",
        registered_at=datetime(2026, 11, 27, 8, tzinfo=UTC),
        reply=Registered(application_number=number, message=f"nömrəniz: {number}"),
    )


def registered(number: str, code: str = "1000001") -> ApplicationRegistered:
    return ApplicationRegistered(
        application_number=number,
        occurred_at="2026-11-27T12:00:00.000+04:00",
        sequence=1,
        subscriber_code=code,
        applicant_fin="5ABCD12",
        channel="e-gov",
        reason_code="new_installation",
        language="az",
        district_code="BAK-NAS",
        additional_meter=False,
        contact=Contact(phone="+994501234567", email="a@example.az"),
        notes="",
    )


async def save(subject: Subject, number: str, submission_id: str, code: str = "1000001") -> None:
    publish = await subject.store.save(
        application(number, submission_id, code), registered(number, code), "corr-1"
    )
    await publish()


async def test_a_saved_application_is_found_by_its_submission_and_its_event_published(
    subject: Subject,
) -> None:
    await save(subject, "SQ-2026-000001", "s-1")
    reply = await subject.store.registration_for("s-1")
    assert reply is not None
    assert reply.application_number == "SQ-2026-000001"
    assert await subject.store.registration_for("s-2") is None
    assert subject.published() == [("application.registered", "SQ-2026-000001")]


async def test_the_same_submission_is_refused_as_a_duplicate(subject: Subject) -> None:
    await save(subject, "SQ-2026-000001", "s-1")
    with pytest.raises(DuplicateSubmission):
        await save(subject, "SQ-2026-000002", "s-1", code="1000002")
    assert len(subject.published()) == 1


async def test_one_open_application_per_code_and_reason_until_it_is_closed(
    subject: Subject,
) -> None:
    await save(subject, "SQ-2026-000001", "s-1")
    with pytest.raises(OpenApplicationExists):
        await save(subject, "SQ-2026-000002", "s-2")
    assert await subject.store.open_application("1000001|new_installation") == "SQ-2026-000001"
    assert await subject.store.close_application("SQ-2026-000001", "completed", "t")
    assert not await subject.store.close_application("SQ-2026-000001", "completed", "t")
    assert await subject.store.open_application("1000001|new_installation") is None
    await save(subject, "SQ-2026-000003", "s-3")


async def test_open_numbers_are_listed_per_code_newest_first(subject: Subject) -> None:
    await save(subject, "SQ-2026-000001", "s-1")
    await save(subject, "SQ-2026-000004", "s-4", code="1000002")
    publish = await subject.store.save(
        _other_reason(application("SQ-2026-000007", "s-7")), registered("SQ-2026-000007"), None
    )
    await publish()
    numbers = await subject.store.open_numbers(["1000001", "1000002", "2000001"])
    assert numbers == {
        "1000001": ["SQ-2026-000007", "SQ-2026-000001"],
        "1000002": ["SQ-2026-000004"],
        "2000001": [],
    }


def _other_reason(app: Application) -> Application:
    return Application(**{**app.__dict__, "open_key": "1000001|relocate_meter"})


async def test_numbers_count_up_per_year(subject: Subject) -> None:
    assert await subject.store.numbers_taken(2026) == 0
    assert [await subject.store.next_number(2026) for _ in range(3)] == [1, 2, 3]
    assert await subject.store.next_number(2027) == 1
    assert await subject.store.numbers_taken(2026) == 3
    assert await subject.store.numbers_taken(2027) == 1


async def test_accounts_are_found_by_code_and_by_owner_in_code_order(subject: Subject) -> None:
    account = await subject.store.account("1000002")
    assert account == ACCOUNTS[0]
    assert await subject.store.account("9999999") is None
    owned = await subject.store.accounts_of("5ABCD12")
    assert [a.subscriber_code for a in owned] == ["1000001", "1000002"]


async def test_an_import_replaces_an_account_whole(subject: Subject) -> None:
    moved = Account("1000001", "5ABCD12", "Sumqayıt", "SUM-01")
    assert await subject.store.upsert_subscribers([moved]) == 1
    assert await subject.store.account("1000001") == moved


@pytest.mark.store
async def test_applications_closed_together_are_one_write_and_each_is_told_its_own(
    mongo_url: str,
) -> None:
    """Closes within ``close_wait`` go in one write; a close of an application closed
    before, or twice in one batch, is told it closed nothing."""
    sent: list[str] = []
    client = make_client(mongo_url, "tests", on_command=sent.append)
    db = client[f"t{uuid.uuid4().hex[:10]}_intake"]
    try:
        store = MongoIntakeStore(db, Outbox(RecordingMessenger()), close_wait=0.05)  # type: ignore[arg-type]
        await store.ensure_indexes()
        await store.upsert_subscribers(ACCOUNTS)
        subject = Subject(store, lambda: [])
        for number, submission, code in [
            ("SQ-2026-000001", "s-1", "1000001"),
            ("SQ-2026-000002", "s-2", "1000002"),
            ("SQ-2026-000003", "s-3", "2000001"),
        ]:
            await save(subject, number, submission, code=code)
        assert await store.close_application("SQ-2026-000003", "rejected", "t0")
        sent.clear()

        together = list(
            await asyncio.gather(
                store.close_application("SQ-2026-000001", "completed", "t1"),
                store.close_application("SQ-2026-000002", "withdrawn", "t2"),
            )
        )
        assert together == [True, True]
        assert sent == ["update applications"]

        sent.clear()
        mixed = list(
            await asyncio.gather(
                store.close_application("SQ-2026-000003", "rejected", "t3"),  # closed at t0
                store.close_application("SQ-2026-000001", "completed", "t4"),  # closed at t1
            )
        )
        assert mixed == [False, False]
        assert sent == ["update applications"]

        await save(subject, "SQ-2026-000004", "s-4", code="1000002")
        sent.clear()
        some = list(
            await asyncio.gather(
                store.close_application("SQ-2026-000004", "completed", "t5"),
                store.close_application("SQ-2026-000003", "rejected", "t5"),  # closed at t0
                store.close_application("SQ-2026-000004", "completed", "t5"),  # a second copy
            )
        )
        assert some == [True, False, False]
        assert sent == ["update applications", "find applications"]  # which closed
        assert await store.open_application("1000001|new_installation") is None
        stored = await db["applications"].find_one({"_id": "SQ-2026-000002"})
        assert stored is not None
        assert (stored["status"], stored["closed_at"]) == ("withdrawn", "t2")
        assert "open_key" not in stored
    finally:
        await client.drop_database(db.name)
        await client.close()


async def test_numbers_asked_for_at_once_are_each_other_and_count_on(subject: Subject) -> None:
    together = await asyncio.gather(*(subject.store.next_number(2026) for _ in range(5)))
    assert sorted(together) == [1, 2, 3, 4, 5]
    assert await subject.store.next_number(2026) == 6
    years = await asyncio.gather(*(subject.store.next_number(y) for y in (2026, 2027, 2026)))
    assert years == [7, 1, 8]  # at New Year's midnight, each year counts on its own


@pytest.mark.store
async def test_registrations_saved_together_are_one_insert_and_each_is_told_its_own(
    mongo_url: str,
) -> None:
    """Numbers asked for while a write is under way are one ``$inc``; applications saved
    while an insert is under way are one insert, each caller told its own refusal."""
    sent: list[str] = []
    client = make_client(mongo_url, "tests", on_command=sent.append)
    db = client[f"t{uuid.uuid4().hex[:10]}_intake"]
    messenger = RecordingMessenger()
    try:
        store = MongoIntakeStore(db, Outbox(messenger))  # type: ignore[arg-type]
        await store.ensure_indexes()
        await store.upsert_subscribers(ACCOUNTS)
        subject = Subject(store, lambda: [])
        await save(subject, "SQ-2026-000001", "s-1", code="1000001")
        sent.clear()

        numbers = await asyncio.gather(*(store.next_number(2026) for _ in range(4)))
        assert numbers == [1, 2, 3, 4]  # in the order asked
        assert sent == ["findAndModify counters"]  # one $inc by 4

        sent.clear()
        outcomes = await asyncio.gather(
            save(subject, "SQ-2026-000002", "s-2", code="1000002"),  # saved
            save(subject, "SQ-2026-000003", "s-3", code="2000001"),  # saved
            save(subject, "SQ-2026-000004", "s-1", code="2000001"),  # s-1 registered before
            save(subject, "SQ-2026-000005", "s-5", code="1000001"),  # 1000001 is open
            save(subject, "SQ-2026-000006", "s-3", code="2000001"),  # s-3, in this batch
            return_exceptions=True,
        )
        assert [type(outcome).__name__ for outcome in outcomes] == [
            "NoneType",
            "NoneType",
            "DuplicateSubmission",
            "OpenApplicationExists",
            "DuplicateSubmission",
        ]
        assert [command for command in sent if command.startswith("insert")] == [
            "insert applications"
        ]
        stored = {d["_id"] for d in await db["applications"].find({}, {"_id": 1}).to_list()}
        assert stored == {"SQ-2026-000001", "SQ-2026-000002", "SQ-2026-000003"}
        published = [p.body["application_number"] for p in messenger.published]
        assert published == ["SQ-2026-000001", "SQ-2026-000002", "SQ-2026-000003"]
    finally:
        await client.drop_database(db.name)
        await client.close()
