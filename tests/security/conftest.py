"""The generated users in the test's own vhost, and the four services each as its own user."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.dispatcher.main import create_app as dispatcher_app
from services.dispatcher.settings import DispatcherSettings
from services.intake.main import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.notifier.main import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from services.status.main import create_app as status_app
from services.status.settings import StatusSettings
from shared.contracts.registry import Service
from tests.notifier.fakes import FakeProvider
from tests.security.deployment import Deployment, applied, run_meterctl
from tests.support.amqp import wait_until_consumed
from tests.support.infra import free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "deploy" / "demo"


@pytest.fixture
def deployment(rabbitmq_url: str, tmp_path: Path) -> Iterator[Deployment]:
    with applied(rabbitmq_url, tmp_path) as found:
        yield found


@dataclass
class System:
    deployment: Deployment
    values: dict[str, Any]  # settings every service shares (databases, roles)
    mail: FakeProvider
    sms: FakeProvider

    async def operator(self, *args: str) -> tuple[int, str, str]:
        """``meterctl ARGS`` as the operations user, on this system's databases.

        A process of its own: the services running in this one print their logs too.
        """
        environment = {
            **os.environ,
            **self.deployment.environment(),
            "RABBITMQ_URL": self.deployment.url("meter-ops"),
            "MONGO_URL": self.values["mongo_url"],
            "DATABASE_PREFIX": self.values["database_prefix"],
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meterctl",
            *args,
            cwd=ROOT,
            env=environment,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return int(process.returncode or 0), out.decode(), err.decode()


@pytest.fixture
async def system(
    deployment: Deployment, settings_values: dict[str, Any], run_app: Any
) -> AsyncIterator[System]:
    """The four services, each connected as its own ``svc-*`` user with its permissions only,
    with the demo reference data loaded by the operations user through meterctl."""
    values = {
        **settings_values,
        **deployment.sender_settings(),
        "database_prefix": f"t{uuid.uuid4().hex[:10]}_",
        "retry_base_delay": 0.05,
    }
    found = System(deployment, values, FakeProvider(), FakeProvider())

    def as_user(service: Service) -> dict[str, Any]:
        return {**values, "rabbitmq_url": deployment.url(service)}

    apps = [
        intake_app(IntakeSettings(**as_user(Service.INTAKE)), configure_logging=False),
        dispatcher_app(
            DispatcherSettings(**as_user(Service.DISPATCHER), housekeeping_interval=0.2),
            configure_logging=False,
        ),
        notifier_app(
            NotifierSettings(**as_user(Service.NOTIFIER), notify_poll_interval=0.1),
            mailer=found.mail,
            sms=found.sms,
            configure_logging=False,
        ),
        status_app(
            StatusSettings(
                **as_user(Service.STATUS), http_port=free_port(), api_keys=frozenset({"k"})
            ),
            configure_logging=False,
        ),
    ]
    # In this process (quicker): no service runs yet to print into meterctl's output.
    environment = {
        **deployment.environment(),
        "RABBITMQ_URL": deployment.url("meter-ops"),
        "MONGO_URL": values["mongo_url"],
        "DATABASE_PREFIX": values["database_prefix"],
    }
    for args in (
        ("subscribers", "import", str(DEMO / "subscribers.csv")),
        ("teams", "import", str(DEMO / "teams.csv")),
        ("stock", "receive", "BAK-NAS", "5"),
    ):
        code, out, err = await asyncio.to_thread(run_meterctl, environment, *args)
        assert code == 0, f"meterctl {' '.join(args)}: {out}{err}"
    async with run_app(apps[0]), run_app(apps[1]), run_app(apps[2]), run_app(apps[3]):
        for queue in (
            "intake.submit_application",
            "dispatcher.application_registered",
            "notifier.application_events",
            "status.application_events",
        ):
            await wait_until_consumed(settings_values["rabbitmq_url"], queue)
        yield found
