"""Serving the status HTTP API inside the service's event loop (uvicorn), stopped gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The FastStream app owns SIGINT/SIGTERM and stops this server on shutdown.
        yield


class HttpServer:
    """Serves an ASGI app inside the service's event loop; cancelling it stops gracefully."""

    def __init__(self, app: FastAPI, host: str, port: int, graceful_timeout: float) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=int(graceful_timeout) or 1,
        )
        self.server = _Server(config)

    async def run(self) -> None:
        serving = asyncio.ensure_future(self.server.serve())
        try:
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            self.server.should_exit = True  # finish in-flight requests, then stop
            await serving
            raise
