"""Dispatcher's composition root: ``create_app`` wires the adapters it is given to the handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from faststream import FastStream

from services.dispatcher.background import Housekeeping
from services.dispatcher.handlers import DispatcherHandlers
from services.dispatcher.mongo import MongoDispatcherStore
from services.dispatcher.settings import DispatcherSettings
from services.dispatcher.store import DispatcherStore
from services.dispatcher.usecases import Dispatcher
from shared.clock import utc_now
from shared.contracts.registry import Service
from shared.logging import configure
from shared.outbox import CLEAR_WAIT, SHARED_CLEAR_WAIT, Outbox
from shared.runtime import ServiceRuntime


def create_app(
    settings: DispatcherSettings,
    *,
    store: DispatcherStore | None = None,
    clock: Callable[[], datetime] = utc_now,
    configure_logging: bool = True,
) -> FastStream:
    """The dispatcher app; ``store`` defaults to MongoDB at ``settings.mongo_url``, ``clock``
    tells the time (tests move it to another Baku day); the senders of the settings say
    which teams each field-app user may report for."""
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="dispatcher")
    runtime = ServiceRuntime(settings, Service.DISPATCHER)
    outbox = Outbox(runtime.messenger)
    runtime.track_outbox(outbox)
    if store is None:
        store = MongoDispatcherStore(
            runtime.db,
            outbox,
            clear_wait=SHARED_CLEAR_WAIT,
            closed_clear_wait=CLEAR_WAIT,
            settle_wait=CLEAR_WAIT,
            clock=clock,
        )
    runtime.gauge(
        "meter_dispatcher_work_orders_waiting",
        "Work orders waiting for a team",
        partial(store.count_work_orders, "waiting"),
    )
    runtime.gauge(
        "meter_dispatcher_work_orders_unsent",
        "Assigned work orders no queue of their team has taken yet (offered again)",
        store.count_unrouted,
    )
    dispatcher = Dispatcher(store, clock, settings.senders())
    DispatcherHandlers(dispatcher).serve(runtime.routes)
    housekeeping = Housekeeping(dispatcher, settings.housekeeping_interval)
    return runtime.build_app(
        on_start=store.ensure_indexes,
        background=[outbox.run, housekeeping.run],
        on_stop=store.flush_settled,
    )
