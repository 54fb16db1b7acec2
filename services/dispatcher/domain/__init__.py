"""Dispatcher's pure rules: which team takes a work order and how capacity is counted.

No I/O here (the import contracts check it for this package). Team-day documents, like
stock documents (``domain.stock``), are changed by pure functions that take the stored
document (or None) and return ``(new document, or None when nothing changes; result)``;
the store writes the new document whole, guarded by its ``version``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import baku
from shared.contracts.catalogue import REASONS_NEEDING_A_METER
from shared.contracts.errors import DEFAULT_LANGUAGE

Change = tuple[dict[str, Any] | None, Any]


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    district_codes: tuple[str, ...]
    daily_capacity: int

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Team:
        return cls(
            team_id=str(document["_id"]),
            name=str(document.get("name", "")),
            district_codes=tuple(document.get("district_codes") or ()),
            daily_capacity=int(document.get("daily_capacity") or 0),
        )


def rank_teams(teams: Iterable[Team], district: str, loads: Mapping[str, int]) -> list[Team]:
    """Teams that may take one more work order in ``district`` today, best first.

    A team qualifies when it serves the district and has assigned fewer work orders today
    than its daily capacity; the fewest assigned today comes first, ties by ``team_id``.
    """
    able = [
        team
        for team in teams
        if district in team.district_codes and loads.get(team.team_id, 0) < team.daily_capacity
    ]
    return sorted(able, key=lambda team: (loads.get(team.team_id, 0), team.team_id))


def pick_team(teams: Iterable[Team], district: str, loads: Mapping[str, int]) -> Team | None:
    ranked = rank_teams(teams, district, loads)
    return ranked[0] if ranked else None


def capacity_day(moment: datetime) -> str:
    """The Asia/Baku calendar day that capacity is counted in (``YYYY-MM-DD``)."""
    return baku(moment).date().isoformat()


def needs_meter(reason_code: str) -> bool:
    return reason_code in REASONS_NEEDING_A_METER


def work_order_id(application_number: str) -> str:
    """One work order per application, named after it: SQ-2026-000001 -> WO-2026-000001."""
    return "WO-" + application_number.removeprefix("SQ-")


_REJECTION_COMMENTS = {
    "no_meter_stock": {
        "az": "Hazırda ərazinizdə quraşdırma üçün anbarda su sayğacı yoxdur.",
        "en": "There is currently no water meter in stock for installation in your area.",
        "ru": "В настоящее время на складе нет счётчиков воды для установки в вашем районе.",
    },
    "unsuitable_water_line": {
        "az": "Su xətti sayğacın quraşdırılması üçün uyğun deyil.",
        "en": "The water line is not suitable for installing a meter.",
        "ru": "Водопроводная линия не подходит для установки счётчика.",
    },
}


def rejection_comment(reason_code: str, language: str) -> str:
    """A sentence saying why the work was not done, in the application's language."""
    texts = _REJECTION_COMMENTS[reason_code]
    return texts.get(language, texts[DEFAULT_LANGUAGE])


# --- capacity: the work orders each team took on one Baku day -------------------------


def team_day_id(team_id: str, day: str) -> str:
    return f"{team_id}|{day}"


def claim(team: Team, day: str, document: dict[str, Any] | None, number: str) -> Change:
    """Count ``number`` against ``team``'s capacity on ``day``; True if counted."""
    base = {"_id": team_day_id(team.team_id, day), "team_id": team.team_id, "day": day}
    current = {**base, "orders": [], **(document or {})}
    if number in current["orders"]:
        return None, True
    if len(current["orders"]) >= team.daily_capacity:
        return None, False
    return {**current, "orders": [*current["orders"], number]}, True


def unclaim(document: dict[str, Any] | None, number: str) -> Change:
    """Give back a slot taken by a dispatch that lost a race."""
    if document is None or number not in document.get("orders", []):
        return None, False
    return {**document, "orders": [item for item in document["orders"] if item != number]}, True
