"""Status's composition root: ``create_app`` wires the adapters it is given to the handlers.

``rebuild`` is the composition of ``meterctl status rebuild``: the archive replayed into
the MongoDB read model, without pushing the views it re-derives to the portals
(``mongo.MongoRebuild``).
"""

from __future__ import annotations

from typing import Any

from faststream import FastStream

from services.status.adapters import archive
from services.status.adapters.http import create_http_app
from services.status.adapters.serving import HttpServer
from services.status.handlers import StatusHandlers
from services.status.mongo import LIVE_COLLECTION, MongoRebuild, MongoStatusStore
from services.status.settings import StatusSettings
from services.status.store import StatusStore
from services.status.usecases import ReadModel
from shared.contracts.registry import Service
from shared.logging import configure
from shared.outbox import CLEAR_WAIT, Outbox
from shared.runtime import ServiceRuntime


def create_app(
    settings: StatusSettings,
    *,
    store: StatusStore | None = None,
    configure_logging: bool = True,
) -> FastStream:
    """The status app (AMQP and HTTP); ``store`` defaults to MongoDB at ``settings.mongo_url``."""
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="status")
    runtime = ServiceRuntime(settings, Service.STATUS)
    # Portal updates are stored with the view they follow, published through the outbox.
    outbox = Outbox(runtime.messenger)
    runtime.track_outbox(outbox)
    # Published updates leave the outboxes in batches (the relay takes out the last ones
    # when it stops).
    live = store or MongoStatusStore(
        runtime.db[LIVE_COLLECTION],
        outbox,
        cached=settings.cached_applications,
        clear_wait=CLEAR_WAIT,
    )
    StatusHandlers(ReadModel(live)).serve(runtime.routes)
    http = HttpServer(
        create_http_app(live, settings.api_keys),
        settings.http_host,
        settings.http_port,
        settings.graceful_timeout,
    )

    async def prepare() -> None:
        # The archive before consuming: it must hold every event the read model ever sees.
        await archive.declare_archive(runtime.broker_url)
        await live.ensure_indexes()

    # Acts are drawn only when one is downloaded: the PDF library is loaded then, not at
    # start (it would add about 40 MB to every status process).
    return runtime.build_app(on_start=prepare, background=[http.run, outbox.run])


async def rebuild(url: str, db: Any, idle_timeout: float = 30.0) -> dict[str, int]:
    """Rebuild ``db``'s read model from the archive; what it did, in numbers."""
    return await archive.rebuild(url, MongoRebuild(db), idle_timeout)
