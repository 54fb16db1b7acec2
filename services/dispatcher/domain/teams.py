"""Which team takes a work order, and how its daily capacity is counted (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.dispatcher.domain.changes import Change, Document
from shared.clock import baku


@dataclass(frozen=True)
class Team:
    team_id: str
    name: str
    district_codes: tuple[str, ...]
    daily_capacity: int


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


def team_holding(
    teams: Iterable[Team], orders: Mapping[str, Sequence[str]], number: str
) -> Team | None:
    """The team whose capacity ``number`` already counts against (a slot taken before a crash)."""
    for team in teams:
        if number in orders.get(team.team_id, ()):
            return team
    return None


def capacity_day(moment: datetime) -> str:
    """The Asia/Baku calendar day that capacity is counted in (``YYYY-MM-DD``)."""
    return baku(moment).date().isoformat()


# Team days older than this are forgotten: only today's counts, the rest is history that
# would otherwise grow by one document per team and day for ever.
TEAM_DAYS_KEPT = timedelta(days=7)


def oldest_day_kept(now: datetime) -> str:
    """The first Baku day whose team-day documents are still kept."""
    return capacity_day(now - TEAM_DAYS_KEPT)


# --- capacity: the work orders each team took on one Baku day -------------------------
# A team day's document: ``orders`` (the application numbers counted) and ``taken`` (how
# many), which lets a claim be one conditional update (``mongo.MongoDispatcherStore.claim``).


def team_day_id(team_id: str, day: str) -> str:
    return f"{team_id}|{day}"


def claim(team: Team, day: str, document: Document | None, number: str) -> Change:
    """Count ``number`` against ``team``'s capacity on ``day``; True if counted."""
    base = {"_id": team_day_id(team.team_id, day), "team_id": team.team_id, "day": day}
    current = {**base, "orders": [], **(document or {})}
    if number in current["orders"]:
        return None, True
    if len(current["orders"]) >= team.daily_capacity:
        return None, False
    orders = [*current["orders"], number]
    return {**current, "orders": orders, "taken": len(orders)}, True


def unclaim(document: Document | None, number: str) -> Change:
    """Give back a slot taken by a dispatch that lost a race."""
    if document is None or number not in document.get("orders", []):
        return None, False
    orders = [item for item in document["orders"] if item != number]
    return {**document, "orders": orders, "taken": len(orders)}, True
