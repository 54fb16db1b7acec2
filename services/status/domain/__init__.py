"""The status projection's pure rules: events into facts, facts into the citizen's view.

``facts`` reads each typed event into what the read model keeps of it; ``projection``
merges facts into what a document received and folds the view; ``texts`` words the view
in the application's language. No I/O here.
"""

from __future__ import annotations

from services.status.domain.facts import STEP_EVENTS, Fact, UnreadableEvent, fact_of
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
    "document",
    "fact_of",
    "listed",
    "merged",
    "shown",
    "summary",
    "view_of",
]
