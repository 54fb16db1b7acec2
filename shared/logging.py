"""structlog set up as docs/architecture.md describes, with contact details masked."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import faststream  # noqa: F401  (creates its own logger, which ``configure`` takes over)
import structlog

_EMAIL = re.compile(r"([^\W_])[\w.%+-]*@([\w.-]+)")
# +994 50 123 45 67, 050 123 45 67, 994501234567 and the bare 50 123 45 67 (mobile codes).
_PHONE = re.compile(
    r"(?<![\w-])(?:(?:\+?994|0)[\s-]?\(?\d{2}\)?|\(?(?:10|50|51|55|60|70|77|99)\)?)"
    r"[\s-]?\d{3}[\s-]?\d{2}[\s-]?(\d{2})(?![\w-])"
)
_CONTACT_KEYS = {"phone", "email", "to", "recipient"}


def mask_email(value: str) -> str:
    if "@" not in value:  # most log values: no scan for the pattern at every position
        return value
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", value)


def mask_phone(value: str) -> str:
    return _PHONE.sub(_masked_phone, value)


def mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone(mask_email(value))
    if isinstance(value, dict):
        return {key: mask(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask(item) for item in value]
    return value


def mask_contacts(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Mask phone numbers and e-mail addresses anywhere in a log line."""
    for key, value in list(event_dict.items()):
        if type(value) is str:  # most values: the two patterns inline, no call per value
            text = mask_email(value) if "@" in value else value
            event_dict[key] = _PHONE.sub(_masked_phone, text)
        elif key in _CONTACT_KEYS or isinstance(value, str | dict | list | tuple):
            event_dict[key] = mask(value)
    return event_dict


def _masked_phone(match: re.Match[str]) -> str:
    return "+994*******" + match.group(1)


def configure(level: str = "INFO", fmt: str = "json", service: str = "") -> None:
    """Render structlog and stdlib loggers (aio-pika, pymongo, FastStream) alike."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        mask_contacts,
    ]
    if service:
        shared.insert(1, _add_service(service))
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer()
        if fmt == "console"
        else structlog.processors.JSONRenderer(ensure_ascii=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our own lines are rendered by structlog and written straight to the handler's
    # stream (a third of the cost of a round through stdlib logging, for the line every
    # message gets); the libraries' lines take that round, in the same shape.
    structlog.configure(
        processors=[*shared, renderer],
        logger_factory=_LineWriterFactory(handler),
        wrapper_class=structlog.make_filtering_bound_logger(root.level),
        cache_logger_on_first_use=True,
    )
    # FastStream's own "faststream" logger (the parent of every broker's logger) writes
    # coloured text to its own handler and stops there: hand it to the root's JSON handler.
    faststream_logger = logging.getLogger("faststream")
    faststream_logger.handlers.clear()
    faststream_logger.propagate = True
    # fontTools notes every font subset at INFO: the act PDF of each completion e-mail.
    for noisy in ("aiormq", "aio_pika", "pymongo", "httpx", "httpcore", "fontTools"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class _LineWriter:
    """A structlog logger that writes each rendered line to the stdlib handler's stream,
    under the handler's lock (a library's line never splits one of ours). It carries
    the logger's name for ``add_logger_name``."""

    def __init__(self, handler: logging.StreamHandler[Any], name: str) -> None:
        self.handler, self.name = handler, name

    def msg(self, message: str) -> None:
        handler = self.handler
        handler.acquire()
        try:
            handler.stream.write(message + "\n")
            handler.stream.flush()
        finally:
            handler.release()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class _LineWriterFactory:
    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self.handler = handler

    def __call__(self, *args: Any) -> _LineWriter:
        return _LineWriter(self.handler, str(args[0]) if args else "")


def _add_service(service: str) -> Any:
    def add_service(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service
