"""The notifier's composition root: ``create_app`` wires the adapters it is given to the
use cases, the handlers and the background sender."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import structlog
from faststream import FastStream

from services.notifier.adapters.email import SmtpMailer
from services.notifier.adapters.sms import HttpSmsGateway
from services.notifier.background import Sender
from services.notifier.domain.providers import Mailer, SmsGateway
from services.notifier.handlers import NotifierHandlers
from services.notifier.mongo import MongoNotifierStore
from services.notifier.settings import NotifierSettings
from services.notifier.store import NotifierStore
from services.notifier.usecases import Notifier
from shared.clock import utc_now
from shared.contracts.registry import Service
from shared.logging import configure
from shared.outbox import Outbox
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
        # httpx logs every request at INFO: our own line per notification is enough.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if sms is None and not settings.sms_gateway_url:
        log.warning("SMS_GATEWAY_URL is not set: SMS wait (and are retried) until it is")
    runtime = ServiceRuntime(settings, Service.NOTIFIER)
    outbox = Outbox(runtime.messenger)
    if store is None:
        store = MongoNotifierStore(runtime.db, outbox)
    if mailer is None:
        mailer = SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        )
    if sms is None:
        sms = HttpSmsGateway(
            url=settings.sms_gateway_url,
            token=settings.sms_gateway_token,
            timeout=settings.sms_timeout,
        )
    notifier = Notifier(store, mailer, sms, settings.retry_policy(), clock)
    sender = Sender(
        notifier,
        interval=settings.notify_poll_interval,
        concurrency=settings.notify_concurrency,
        graceful=settings.graceful_timeout,
    )
    NotifierHandlers(notifier, sender.wake).serve(runtime.routes)
    return runtime.build_app(on_start=store.ensure_indexes, background=[outbox.run, sender.run])
