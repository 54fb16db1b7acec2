"""Field teams' CSV rows (``meterctl teams import``): pure parsing."""

from __future__ import annotations

import re

from services.dispatcher.domain.teams import Team

TEAM_COLUMNS = ("team_id", "name", "district_codes", "daily_capacity")
_CODE = re.compile(r"^[0-9A-Za-z-]{1,32}$")


class BadRow(ValueError):
    """What is wrong with one row."""


def team_row(values: dict[str, str]) -> Team:
    """One team; ``district_codes`` are separated by ``;``."""
    problems: list[str] = []
    team_id = values["team_id"]
    if not _CODE.match(team_id):
        problems.append(f"team_id {team_id!r} must be 1-32 letters, digits or '-'")
    if not values["name"]:
        problems.append("name is empty")
    districts = [part.strip() for part in values["district_codes"].split(";") if part.strip()]
    if not districts:
        problems.append("district_codes is empty")
    for district in districts:
        if not _CODE.match(district):
            problems.append(f"district code {district!r} must be 1-32 letters, digits or '-'")
    capacity = values["daily_capacity"]
    if not (capacity.isascii() and capacity.isdigit()):
        problems.append(f"daily_capacity {capacity!r} must be a whole number, 0 or more")
    if problems:
        raise BadRow("; ".join(problems))
    return Team(
        team_id=team_id,
        name=values["name"],
        district_codes=tuple(dict.fromkeys(districts)),
        daily_capacity=int(capacity),
    )
