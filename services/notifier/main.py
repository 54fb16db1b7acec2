"""The notifier's composition root: ``create_app(settings)`` wires adapters to handlers."""

from __future__ import annotations

import logging

import structlog
from faststream import FastStream

from services.notifier.channels import Mailer, SmsGateway
from services.notifier.email import SmtpMailer
from services.notifier.handlers import NotifierHandlers
from services.notifier.sender import Sender
from services.notifier.settings import NotifierSettings
from services.notifier.sms import HttpSmsGateway
from services.notifier.store import MongoNotifierStore
from shared.logging import configure
from shared.outbox import Outbox
from shared.runtime import ServiceRuntime

log = structlog.get_logger("meter.notifier")


def create_app(
    settings: NotifierSettings,
    *,
    configure_logging: bool = True,
    mailer: Mailer | None = None,
    sms: SmsGateway | None = None,
) -> FastStream:
    if configure_logging:
        configure(settings.log_level, settings.log_format, service="notifier")
        # httpx logs every request at INFO: our own line per notification is enough.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    if sms is None and not settings.sms_gateway_url:
        log.warning("SMS_GATEWAY_URL is not set: SMS wait (and are retried) until it is")
    runtime = ServiceRuntime(settings, "notifier")
    store = MongoNotifierStore(runtime.db)
    outbox = Outbox(runtime.messenger, [store.notifications])
    sender = Sender(
        store,
        outbox,
        mailer
        or SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout,
        ),
        sms
        or HttpSmsGateway(
            url=settings.sms_gateway_url,
            token=settings.sms_gateway_token,
            timeout=settings.sms_timeout,
        ),
        settings.retry_policy(),
        interval=settings.notify_poll_interval,
        concurrency=settings.notify_concurrency,
        graceful=settings.graceful_timeout,
    )
    handlers = NotifierHandlers(store, sender.wake)
    runtime.subscribe("notifier.application_events", handlers.application_event)
    return runtime.build_app(on_start=store.ensure_indexes, background=[outbox.run, sender.run])
