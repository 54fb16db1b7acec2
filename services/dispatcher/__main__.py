"""``python -m services.dispatcher``: run the dispatcher service until SIGINT/SIGTERM."""

from services.dispatcher.main import create_app
from services.dispatcher.settings import DispatcherSettings
from shared.runtime import run_service

if __name__ == "__main__":
    run_service("dispatcher", DispatcherSettings, create_app)
