"""Dispatcher's pure rules: teams and capacity, meter stock, work orders, reports.

No I/O here (the import contracts check it for this package): the use cases read what
is stored, ask these functions what changes, and hand the result to the store.

- ``teams``: which team takes a work order, capacity per Asia/Baku day;
- ``stock``: a district's meters, reserved, consumed and received;
- ``workorders``: a work order's changes and the events each causes;
- ``reports``: whether a field team's report may close its work order;
- ``withdrawals``: whether a citizen may withdraw an application, and what that changes;
- ``deadlines``: when an open work order is overdue, and its announcement;
- ``comments``: rejection sentences in the application's language.
"""

from __future__ import annotations

from services.dispatcher.domain.changes import Change, Document
from services.dispatcher.domain.comments import rejection_comment
from services.dispatcher.domain.teams import (
    Team,
    capacity_day,
    claim,
    pick_team,
    rank_teams,
    team_day_id,
    team_holding,
    unclaim,
)
from services.dispatcher.domain.workorders import (
    REASONS_NEEDING_A_METER,
    needs_meter,
    new_work_order_id,
)

__all__ = [
    "REASONS_NEEDING_A_METER",
    "Change",
    "Document",
    "Team",
    "capacity_day",
    "claim",
    "needs_meter",
    "new_work_order_id",
    "pick_team",
    "rank_teams",
    "rejection_comment",
    "team_day_id",
    "team_holding",
    "unclaim",
]
