"""The status service's composition root: ``create_app(settings)`` wires adapters to handlers."""

from __future__ import annotations

from faststream import FastStream

from services.status.handlers import StatusHandlers, malformed_reply
from services.status.http import HttpServer, create_http_app
from services.status.rebuild import LIVE_COLLECTION, declare_archive
from services.status.settings import StatusSettings
from services.status.store import MongoStatusStore
from shared.logging import configure
from shared.runtime import ServiceRuntime


def create_app(settings: StatusSettings, *, configure_logging: bool = True) -> FastStream:
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="status")
    runtime = ServiceRuntime(settings, "status")
    store = MongoStatusStore(runtime.db[LIVE_COLLECTION])
    handlers = StatusHandlers(store)
    for queue, handler in (
        ("status.application_events", handlers.application_event),
        ("status.get_application", handlers.get_application),
        ("status.list_applications", handlers.list_applications),
    ):
        runtime.subscribe(queue, handler, malformed_reply)
    http = HttpServer(
        create_http_app(store, settings.api_keys),
        settings.http_host,
        settings.http_port,
        settings.graceful_timeout,
    )

    async def prepare() -> None:
        await declare_archive(settings.rabbitmq_url)  # before consuming: keep every event
        await store.ensure_indexes()

    return runtime.build_app(on_start=prepare, background=[http.run])
