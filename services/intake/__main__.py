"""``python -m services.intake``: run the intake service until SIGINT/SIGTERM."""

from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from shared.runtime import run_service

if __name__ == "__main__":
    run_service("intake", IntakeSettings, create_app)
