"""A withdrawal is told to the citizen like any other step (one e-mail, one SMS, after the
earlier steps on each channel); an overdue application is not told to the citizen at all.
In-process with fake providers; over the broker in ``test_delivery``."""

from __future__ import annotations

import pytest

from tests.notifier.conftest import forwarded, overdue, registered, withdrawn
from tests.notifier.fakes import FakeProvider, transient
from tests.notifier.inprocess import LocalNotifier

A = "SQ-2026-000601"
REGISTERED_AZ = (
    "Müraciətiniz qeydiyyata alındı. Xidmətimizdən istifadə etdiyiniz üçün sizə "
    "təşəkkür edirik. Müraciət nömrəniz: {}"
)


@pytest.fixture
def mailer() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def sms() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def local(mailer: FakeProvider, sms: FakeProvider) -> LocalNotifier:
    return LocalNotifier(mailer, sms)


async def test_a_withdrawal_sends_one_email_and_one_sms_after_the_earlier_steps(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    # The registration's SMS fails once: the later steps still wait their turn behind it.
    sms.failures.append(transient())
    await local.publish("application.registered", registered(A))
    await local.publish("application.forwarded", forwarded(A))
    outcome = await local.publish("application.withdrawn", withdrawn(A))
    await local.run()

    assert outcome.log == {"outcome": "recorded", "step": "application.withdrawn"}
    assert [mail.subject for mail in mailer.mails()] == [
        f"Müraciət {A}: Qeydiyyata alındı",
        f"Müraciət {A}: İcraya yönləndirildi",
        f"Müraciət {A}: Geri götürüldü",
    ]
    assert sms.texts() == [
        REGISTERED_AZ.format(A),
        f"{A} nömrəli müraciətiniz icraya yönləndirildi.",
        f"{A} nömrəli müraciətiniz geri götürüldü.",
    ]
    assert mailer.texts()[-1].startswith(f"{A} nömrəli müraciətiniz geri götürüldü.\n\n-- \n")
    delivered = local.bodies("notification.delivered")
    assert sorted(
        (body["channel"], body["attempts"])
        for body in delivered
        if body["event"] == "application.withdrawn"
    ) == [("email", 1), ("sms", 1)]


async def test_a_withdrawal_delivered_twice_is_told_once_in_the_applicants_language(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A, language="ru"))
    await local.publish("application.withdrawn", withdrawn(A, sequence=2))
    again = await local.publish("application.withdrawn", withdrawn(A, sequence=2))
    await local.run()

    assert again.log["outcome"] == "duplicate"
    assert [job.id for job in local.jobs_of(A)] == [
        f"{A}:application.registered:email",
        f"{A}:application.registered:sms",
        f"{A}:application.withdrawn:email",
        f"{A}:application.withdrawn:sms",
    ]
    assert mailer.mails()[-1].subject == f"Заявка {A}: Отозвана"
    assert sms.texts()[-1] == f"Ваша заявка {A} отозвана."
    assert (len(mailer.taken), len(sms.taken)) == (2, 2)


async def test_an_overdue_application_is_not_told_to_the_citizen(
    local: LocalNotifier, mailer: FakeProvider, sms: FakeProvider
) -> None:
    await local.publish("application.registered", registered(A))
    await local.run()
    woken = local.woken

    outcome = await local.publish("application.overdue", overdue(A))
    await local.run()

    assert outcome.reply is None
    assert outcome.log == {"outcome": "ignored", "step": "application.overdue"}
    assert [job.event for job in local.jobs_of(A)] == ["application.registered"] * 2
    assert (len(mailer.tried), len(sms.tried)) == (1, 1)
    assert local.woken == woken  # nothing to send: the sender is not woken
