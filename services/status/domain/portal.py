"""What portals get besides the queries' answers: the update pushed after every change of
a view (``meter.portal``), and the citizen's copy of the installation act (over HTTP).

Both are read from stored documents (``projection.document``), so the MongoDB store and
the tests' fake decide alike.
"""

from __future__ import annotations

from typing import Any

from services.status.domain.facts import step_status
from shared.contracts.commands import Act
from shared.contracts.events import ApplicationRegistered
from shared.contracts.portal import ApplicationUpdated
from shared.documents import ActCopy

_REGISTERED = step_status(ApplicationRegistered)


def portal_update(
    before: dict[str, Any] | None, after: dict[str, Any]
) -> ApplicationUpdated | None:
    """The update a write from ``before`` to ``after`` publishes: the whole view after it.

    None when the view did not change (a fact it does not show, or no view yet): a write
    that changes nothing a portal shows publishes nothing.
    """
    view = after.get("view")
    if view is None or (before is not None and before.get("view") == view):
        return None
    return ApplicationUpdated.model_validate({**view, "applicant_fin": after["applicant_fin"]})


def act_copy(document: dict[str, Any]) -> ActCopy | None:
    """The citizen's copy of the act of a stored document; None while it has no act."""
    view = document.get("view")
    if not view or not view.get("act"):
        return None
    received = document.get("received", {})
    steps: list[dict[str, Any]] = received.get("steps", [])
    registered = next((step for step in steps if step["status"] == _REGISTERED), {})
    return ActCopy(
        application_number=view["application_number"],
        subscriber_code=view["subscriber_code"],
        # The registration's address; older registrations carried none ("—" on the copy).
        address=registered.get("address") or "",
        act=Act.model_validate(view["act"]),
    )
