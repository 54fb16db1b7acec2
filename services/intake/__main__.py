"""``python -m services.intake``: run the intake service until SIGINT/SIGTERM."""

import asyncio

from services.intake.main import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    asyncio.run(create_app(IntakeSettings.from_env()).run())


if __name__ == "__main__":
    main()
