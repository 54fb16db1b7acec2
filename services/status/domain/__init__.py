"""The status projection's pure rules: events into facts, facts into the citizen's view.

``facts`` reads each typed event into what the read model keeps of it; ``projection``
merges facts into what a document received and folds the view; ``portal`` tells what a
write publishes to the portals and what the act's copy shows; ``texts`` words the view in
the application's language. No I/O here.
"""

from __future__ import annotations

from services.status.domain.facts import STEP_EVENTS, Fact, UnreadableEvent, fact_of
from services.status.domain.portal import act_copy, portal_update
from services.status.domain.projection import (
    Received,
    document,
    listed,
    merged,
    shown,
    summary,
    view_of,
)

__all__ = [
    "STEP_EVENTS",
    "Fact",
    "Received",
    "UnreadableEvent",
    "act_copy",
    "document",
    "fact_of",
    "listed",
    "merged",
    "portal_update",
    "shown",
    "summary",
    "view_of",
]
