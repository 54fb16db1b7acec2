"""The use cases over the in-memory store: what they answer and what they log (no broker)."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from services.status.handlers import EVENTS_QUEUE, StatusHandlers
from services.status.usecases import ReadModel
from shared.contracts.commands import GetApplication, ListApplications
from shared.contracts.events import ApplicationRegistered, Event
from shared.contracts.reading import MalformedMessage
from shared.contracts.replies import ApplicationList, ApplicationView, NotFound
from shared.delivery import Delivery
from shared.routes import Routes
from tests.status.events import FIN, notified, registered
from tests.status.fakes import MemoryStatusStore

NUMBER = "SQ-2026-000701"
OTHER_FIN = "7XYZW99"


class NoLookups(MemoryStatusStore):
    async def own_application(self, applicant_fin: str, number: str) -> Any:
        raise AssertionError("a malformed number must not reach the store")


def event(body: dict[str, Any]) -> Event:
    return cast(Event, ApplicationRegistered.model_validate(body))


def routes_over(store: MemoryStatusStore) -> Routes:
    routes = Routes()
    StatusHandlers(ReadModel(store)).serve(routes)
    return routes


async def test_an_event_is_recorded_and_its_copy_logged_as_a_duplicate() -> None:
    store = MemoryStatusStore()
    read_model = ReadModel(store)

    first = await read_model.project(event(registered(NUMBER)))
    again = await read_model.project(event(registered(NUMBER)))

    assert (first.log["outcome"], again.log["outcome"]) == ("projected", "duplicate")
    assert list(store.documents) == [NUMBER]
    assert first.log["event_type"] == "application.registered"
    # structlog's own positional argument is "event": a log field of that name breaks it.
    assert "event" not in first.log
    assert first.reply is None


async def test_a_body_that_is_not_the_named_event_is_malformed() -> None:
    routes = routes_over(MemoryStatusStore())

    with pytest.raises(MalformedMessage, match="sequence"):
        await routes.deliver(
            EVENTS_QUEUE, json.dumps({"x": 1}).encode(), Delivery("application.assigned")
        )


async def test_an_event_the_registry_does_not_know_is_ignored_without_a_write() -> None:
    store = MemoryStatusStore()
    body = json.dumps({"application_number": NUMBER}).encode()

    outcome = await routes_over(store).deliver(EVENTS_QUEUE, body, Delivery("application.archived"))

    assert outcome.log == {"outcome": "ignored", "event_type": "application.archived"}
    assert store.documents == {}


async def test_a_number_that_cannot_exist_is_not_found_without_a_lookup() -> None:
    read_model = ReadModel(NoLookups())

    outcome = await read_model.get_application(
        GetApplication(applicant_fin="5ABCD12", application_number="42")
    )

    assert isinstance(outcome.reply, NotFound)
    assert outcome.log == {"outcome": "not_found"}


async def test_the_owner_gets_the_view_and_the_status_is_logged() -> None:
    store = MemoryStatusStore()
    read_model = ReadModel(store)
    await read_model.project(event(registered(NUMBER)))

    outcome = await read_model.get_application(
        GetApplication(applicant_fin=FIN, application_number=NUMBER)
    )

    assert isinstance(outcome.reply, ApplicationView)
    assert outcome.reply.application_number == NUMBER
    assert outcome.log == {"outcome": "answered", "status": "registered"}


@pytest.mark.parametrize("number", [NUMBER, "SQ-2026-999999"], ids=["someone else's", "unknown"])
async def test_someone_elses_or_an_unknown_number_is_not_found(number: str) -> None:
    read_model = ReadModel(MemoryStatusStore())
    await read_model.project(event(registered(NUMBER, fin=OTHER_FIN)))

    outcome = await read_model.get_application(
        GetApplication(applicant_fin=FIN, application_number=number)
    )

    assert isinstance(outcome.reply, NotFound)
    assert outcome.log == {"outcome": "not_found"}


async def test_the_list_counts_what_it_answers_and_holds_only_the_citizens() -> None:
    read_model = ReadModel(MemoryStatusStore())
    for number, fin in [("SQ-2026-000701", FIN), ("SQ-2026-000702", OTHER_FIN)]:
        await read_model.project(event(registered(number, fin=fin)))

    outcome = await read_model.list_applications(ListApplications(applicant_fin=FIN))

    assert isinstance(outcome.reply, ApplicationList)
    assert [view.application_number for view in outcome.reply.applications] == [NUMBER]
    assert outcome.log == {"outcome": "answered", "count": 1}


async def test_a_notification_outcome_is_projected_onto_its_application() -> None:
    store = MemoryStatusStore()
    routes = routes_over(store)
    body = notified(NUMBER, "application.registered", "sms")

    outcome = await routes.deliver(
        EVENTS_QUEUE, json.dumps(body).encode(), Delivery("notification.failed")
    )

    assert outcome.log == {"outcome": "projected", "event_type": "notification.failed"}
    [held] = store.documents[NUMBER]["received"]["notifications"]
    assert (held["event"], held["channel"], held["state"]) == (
        "application.registered",
        "sms",
        "failed",
    )
