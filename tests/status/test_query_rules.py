"""Badly shaped queries are refused with codes (in-process: the service's routes, no broker).

The contract's models read the queries (``GetApplication``, ``ListApplications``); the
golden corpus in ``tests/contract`` proves they refuse exactly as the old checks did.
"""

from __future__ import annotations

import pytest

from tests.status.inprocess import LocalStatus
from tests.support.inprocess import LocalPortal

Portal = LocalPortal


@pytest.fixture
def portal() -> LocalPortal:
    return LocalStatus().portal


async def test_a_query_with_missing_wrong_and_unknown_fields_is_refused_with_each_code(
    portal: Portal,
) -> None:
    reply = await portal.request("status.get_application", {"applicant_fin": 7, "page": 2})

    assert reply.outcome == "refused"
    assert sorted((e["field"], e["code"]) for e in reply.body["errors"]) == [
        ("applicant_fin", "invalid_type"),
        ("application_number", "required"),
        ("page", "unknown_field"),
    ]
    assert all(error["message"] for error in reply.body["errors"])


async def test_a_list_without_an_applicant_is_refused(portal: Portal) -> None:
    reply = await portal.request("status.list_applications", {"applicant_fin": "  "})

    assert reply.outcome == "refused"
    assert reply.codes() == ["required"]
