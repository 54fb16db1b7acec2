"""``python -m services.notifier``: run the notifier service until SIGINT/SIGTERM."""

import asyncio

from services.notifier.main import create_app
from services.notifier.settings import NotifierSettings


def main() -> None:
    asyncio.run(create_app(NotifierSettings.from_env()).run())


if __name__ == "__main__":
    main()
