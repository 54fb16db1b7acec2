"""The notifier's composition root: ``create_app`` wires the adapters it is given to the
use cases, the handlers and the background sender.

The SMTP pool and the SMS gateway's HTTP client made here are one per process; they are
closed when the sender stops, after the attempts under way have finished.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog
from faststream import FastStream

from services.notifier.adapters.email import SmtpMailer
from services.notifier.adapters.sms import HttpSmsGateway
from services.notifier.background import Liveness, Sender
from services.notifier.domain.providers import Mailer, SmsGateway
from services.notifier.handlers import NotifierHandlers
from services.notifier.mongo import MongoNotifierStore
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore
from services.notifier.usecases import Notifier
from shared.batching import LINGER
from shared.clock import utc_now
from shared.contracts.registry import Service
from shared.documents import prepare_in_background
from shared.logging import configure
from shared.metrics import Counted
from shared.outbox import CLEAR_WAIT, Outbox
from shared.runtime import ServiceRuntime

log = structlog.get_logger("meter.notifier")


def create_app(
    settings: NotifierSettings,
    *,
    store: NotifierStore | None = None,
    mailer: Mailer | None = None,
    sms: SmsGateway | None = None,
    clock: Callable[[], datetime] = utc_now,
    configure_logging: bool = True,
) -> FastStream:
    """The notifier app; by default MongoDB at ``settings.mongo_url``, the SMTP server and
    the SMS gateway of ``settings``."""
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="notifier")
    if sms is None and not settings.sms_gateway_url:
        log.warning("SMS_GATEWAY_URL is not set: SMS wait (and are retried) until it is")
    runtime = ServiceRuntime(settings, Service.NOTIFIER)
    outbox = Outbox(runtime.messenger)
    runtime.track_outbox(outbox)
    made_store: MongoNotifierStore | None = None
    if store is None:
        store = made_store = MongoNotifierStore(
            runtime.db, outbox, clear_wait=CLEAR_WAIT, write_linger=LINGER
        )
    made_mailer, made_sms = make_providers(settings)
    mailer, sms = mailer or made_mailer, sms or made_sms
    deliveries = runtime.metrics.counter(
        "meter_notifier_deliveries", "Delivery attempts by channel and result", ("channel", "state")
    )
    mailer, sms = Counted(mailer, deliveries, "email"), Counted(sms, deliveries, "sms")
    notifier = Notifier(store, mailer, sms, settings.retry_policy(), clock)
    runtime.gauge("meter_notifier_jobs_due", "Notifications due to be sent now", notifier.count_due)
    sender = Sender(
        notifier,
        interval=settings.notify_poll_interval,
        concurrency=settings.notify_concurrency,
        graceful=settings.graceful_timeout,
    )

    liveness = Liveness(store, clock=clock)

    async def send_until_stopped() -> None:
        try:
            await liveness.alive.wait()  # every claim names a sender others can see alive
            await sender.run()
        finally:  # the attempts under way have finished or been cut off
            await made_mailer.aclose()
            await made_sms.aclose()
            if made_store is not None:
                await made_store.aclose()

    NotifierHandlers(notifier, sender.wake).serve(runtime.routes)
    return runtime.build_app(
        on_start=store.ensure_indexes,
        background=[outbox.run, liveness.run, send_until_stopped, prepare_in_background],
    )


def make_providers(settings: NotifierSettings) -> tuple[SmtpMailer, HttpSmsGateway]:
    """The SMTP mailer (pooled connections) and the SMS gateway (one HTTP client); neither
    connects before its first message."""
    mailer = SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
        data_timeout=settings.smtp_data_timeout,
        pool_size=settings.smtp_pool_size,
    )
    sms = HttpSmsGateway(
        url=settings.sms_gateway_url,
        token=settings.sms_gateway_token,
        timeout=settings.sms_timeout,
        answer_timeout=settings.sms_answer_timeout,
        connections=settings.notify_concurrency,
        proxy=settings.sms_gateway_proxy,
    )
    return mailer, sms
