"""Intake's composition root: ``create_app(settings)`` wires adapters to handlers."""

from __future__ import annotations

from faststream import FastStream

from services.intake.handlers import IntakeHandlers
from services.intake.queries import IntakeQueries, malformed_reply
from services.intake.settings import IntakeSettings
from services.intake.store import MongoIntakeStore
from shared.logging import configure
from shared.outbox import Outbox
from shared.runtime import ServiceRuntime


def create_app(settings: IntakeSettings, *, configure_logging: bool = True) -> FastStream:
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="intake")
    runtime = ServiceRuntime(settings, "intake")
    store = MongoIntakeStore(runtime.db)
    outbox = Outbox(runtime.messenger, [store.applications])
    handlers = IntakeHandlers(store, outbox, store.applications, settings.channel_users)
    queries = IntakeQueries(store)
    for queue, handler in (
        ("intake.list_reasons", queries.list_reasons),
        ("intake.list_subscriber_accounts", queries.list_subscriber_accounts),
        ("intake.check_subscriber", queries.check_subscriber),
        ("intake.submit_application", handlers.submit_application),
        ("intake.application_closed", handlers.application_closed),
    ):
        runtime.subscribe(queue, handler, malformed_reply)
    return runtime.build_app(on_start=store.ensure_indexes, background=[outbox.run])
