"""``python -m services.status``: run the status service (AMQP and HTTP) until SIGINT/SIGTERM."""

import asyncio

from services.status.main import create_app
from services.status.settings import StatusSettings


def main() -> None:
    asyncio.run(create_app(StatusSettings.from_env()).run())


if __name__ == "__main__":
    main()
