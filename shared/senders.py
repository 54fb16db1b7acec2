"""Who may send what: the broker users of each sender role (pure).

- portals: ``CHANNEL_USERS`` (``user=channel``; channels ``e-gov``, ``azersu``, ``e-su``);
- field apps: ``FIELD_USERS`` (``user=T-01|T-02``, or ``user=*`` for every team);
- operations: ``OPS_USERS`` (users, comma-separated).

The user is the AMQP ``user_id`` RabbitMQ validated against the connection. A command from
no user, or from a user of no role, is ``unauthenticated``; from a user of another role,
``forbidden``. The local run maps ``guest`` to every role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.contracts.commands import Role

CHANNELS = ("e-gov", "azersu", "e-su")
ALL_TEAMS = "*"


def parse_teams(raw: str) -> dict[str, frozenset[str]]:
    """``FIELD_USERS``: ``user=T-01|T-02,other=*`` (``*``: every team)."""
    found: dict[str, frozenset[str]] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        user, sep, teams = entry.partition("=")
        names = frozenset(team.strip() for team in teams.split("|") if team.strip())
        if not sep or not user.strip() or not names:
            raise ValueError(f"{entry!r} is not user=TEAM|TEAM or user=*")
        found[user.strip()] = names
    return found


def parse_users(raw: str) -> frozenset[str]:
    """``OPS_USERS``: users separated by commas."""
    return frozenset(user.strip() for user in raw.split(",") if user.strip())


def check_channels(channels: Mapping[str, str]) -> Mapping[str, str]:
    unknown = sorted(set(channels.values()) - set(CHANNELS))
    if unknown:
        raise ValueError(
            f"unknown channel(s) {', '.join(unknown)}; channels are {', '.join(CHANNELS)}"
        )
    return channels


@dataclass(frozen=True)
class Senders:
    channels: Mapping[str, str] = field(default_factory=lambda: {"guest": "e-gov"})
    field_teams: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {"guest": frozenset({ALL_TEAMS})}
    )
    operations: frozenset[str] = frozenset({"guest"})

    def roles_of(self, user: str | None) -> set[Role]:
        roles: set[Role] = set()
        if user is None:
            return roles
        if user in self.channels:
            roles.add(Role.PORTAL)
        if user in self.field_teams:
            roles.add(Role.FIELD_APP)
        if user in self.operations:
            roles.add(Role.OPERATIONS)
        return roles

    def channel_of(self, user: str | None) -> str | None:
        return None if user is None else self.channels.get(user)

    def may_act_for(self, user: str | None, team_id: str) -> bool:
        """Whether a field-app user reports for ``team_id`` (its own teams only)."""
        teams = self.field_teams.get(user or "")
        return teams is not None and (ALL_TEAMS in teams or team_id in teams)

    def teams_of(self, user: str) -> frozenset[str] | None:
        """A field-app user's teams; None for every team."""
        teams = self.field_teams.get(user, frozenset())
        return None if ALL_TEAMS in teams else teams

    def users(self) -> list[str]:
        return sorted({*self.channels, *self.field_teams, *self.operations})
