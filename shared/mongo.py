"""MongoDB client factory (PyMongo's async API)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient


def make_client(url: str, app_name: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client that hands back timezone-aware UTC datetimes and fails fast when down."""
    return AsyncMongoClient(
        url,
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=5000,
        uuidRepresentation="standard",
    )
