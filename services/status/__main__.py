"""``python -m services.status``: run the status service (AMQP and HTTP) until SIGINT/SIGTERM."""

from services.status.main import create_app
from services.status.settings import StatusSettings
from shared.runtime import run_service

if __name__ == "__main__":
    run_service("status", StatusSettings, create_app)
