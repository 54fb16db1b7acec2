"""Intake's composition root: ``create_app`` wires the adapters it is given to the handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from faststream import FastStream

from services.intake.handlers import IntakeHandlers
from services.intake.mongo import MongoIntakeStore
from services.intake.settings import IntakeSettings
from services.intake.store import IntakeStore
from services.intake.usecases import Intake
from shared.clock import utc_now
from shared.contracts.registry import Service
from shared.logging import configure
from shared.outbox import CLEAR_WAIT, Outbox
from shared.runtime import ServiceRuntime


def create_app(
    settings: IntakeSettings,
    *,
    store: IntakeStore | None = None,
    clock: Callable[[], datetime] = utc_now,
    configure_logging: bool = True,
) -> FastStream:
    """The intake app; ``store`` defaults to MongoDB at ``settings.mongo_url``."""
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="intake")
    runtime = ServiceRuntime(settings, Service.INTAKE)
    outbox = Outbox(runtime.messenger)
    runtime.track_outbox(outbox)
    if store is None:
        store = MongoIntakeStore(runtime.db, outbox, clear_wait=CLEAR_WAIT, close_wait=CLEAR_WAIT)
    intake = Intake(store, settings.channel_users, clock, settings.service_level())
    runtime.gauge(
        "meter_intake_numbers_left",
        "Application numbers still free this year (Baku time)",
        intake.numbers_left,
    )
    IntakeHandlers(intake).serve(runtime.routes)
    return runtime.build_app(on_start=store.ensure_indexes, background=[outbox.run])
