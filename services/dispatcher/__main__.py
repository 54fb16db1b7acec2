"""``python -m services.dispatcher``: run the dispatcher service until SIGINT/SIGTERM."""

import asyncio

from services.dispatcher.main import create_app
from services.dispatcher.settings import DispatcherSettings


def main() -> None:
    asyncio.run(create_app(DispatcherSettings.from_env()).run())


if __name__ == "__main__":
    main()
