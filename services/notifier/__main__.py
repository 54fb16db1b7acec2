"""``python -m services.notifier``: run the notifier service until SIGINT/SIGTERM."""

from services.notifier.main import create_app
from services.notifier.settings import NotifierSettings
from shared.runtime import run_service

if __name__ == "__main__":
    run_service("notifier", NotifierSettings, create_app)
