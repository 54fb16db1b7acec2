"""Dispatcher's composition root: ``create_app(settings)`` wires adapters to handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream import FastStream

from services.dispatcher.dispatch import Dispatcher
from services.dispatcher.handlers import DispatcherHandlers, malformed_reply
from services.dispatcher.settings import DispatcherSettings
from services.dispatcher.store import MongoDispatcherStore
from shared.clock import utc_now
from shared.logging import configure
from shared.outbox import Outbox
from shared.runtime import ServiceRuntime


def create_app(
    settings: DispatcherSettings,
    *,
    configure_logging: bool = True,
    clock: Callable[[], datetime] = utc_now,
) -> FastStream:
    """The dispatcher app; ``clock`` tells the time (tests move it to another Baku day)."""
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="dispatcher")
    runtime = ServiceRuntime(settings, "dispatcher")
    store = MongoDispatcherStore(runtime.db)
    outbox = Outbox(runtime.messenger, [store.work_orders])
    dispatcher = Dispatcher(store, outbox, clock, settings.housekeeping_interval)
    handlers = DispatcherHandlers(store, dispatcher, clock)
    for queue, handler in (
        ("dispatcher.application_registered", handlers.application_registered),
        ("dispatcher.report_outcome", handlers.report_outcome),
        ("dispatcher.receive_stock", handlers.receive_stock),
    ):
        runtime.subscribe(queue, handler, malformed_reply)
    return runtime.build_app(on_start=store.ensure_indexes, background=[outbox.run, dispatcher.run])
