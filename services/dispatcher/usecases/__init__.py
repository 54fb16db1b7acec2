"""Dispatcher's use cases: dispatch registered applications, close work orders as reported,
withdraw waiting applications, receive stock, and the housekeeping that finishes what
waits and announces what is overdue (``background`` runs it).

Each takes a typed command or event and returns the ``Outcome`` (reply and log fields);
storage is the ``DispatcherStore`` port, time comes from ``clock``, who may report for
which team from ``senders``.
"""

from __future__ import annotations

from services.dispatcher.usecases.deadlines import Deadlines
from services.dispatcher.usecases.dispatching import Dispatcher, WorkOrderIdTaken
from services.dispatcher.usecases.reporting import WRITE_ATTEMPTS, Reporting, WorkOrderBusy
from services.dispatcher.usecases.withdrawing import Withdrawing

__all__ = [
    "WRITE_ATTEMPTS",
    "Deadlines",
    "Dispatcher",
    "Reporting",
    "Withdrawing",
    "WorkOrderBusy",
    "WorkOrderIdTaken",
]
