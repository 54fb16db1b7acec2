"""Intake as a real process that dies right after storing an application.

Run as ``python -m tests.intake.crashing_intake``: the first outbox flush kills the
process with ``os._exit`` (no cleanup, no ack), as a power cut between the database
write and the publication would.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.outbox import Outbox


async def _die(self: Outbox, collection: Any, document: Any) -> int:
    os._exit(86)


def main() -> None:
    Outbox.flush = _die  # type: ignore[method-assign]
    asyncio.run(create_app(IntakeSettings.from_env()).run())


if __name__ == "__main__":
    main()
