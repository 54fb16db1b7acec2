"""``meterctl``: the operations command line.

Configured by the same environment variables as the services. Each module of this
package that defines ``add_commands(subparsers)`` contributes its commands; a command
sets ``func`` (taking the parsed arguments and ``CommonSettings``, returning an exit code).
A broker or database that does not answer, bad settings and wrong arguments end with one
clear line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Mapping, Sequence

import aio_pika
import pymongo.errors

import meterctl
from shared.settings import CommonSettings, SettingsError, without_password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterctl", description=__doc__.splitlines()[0])
    areas = parser.add_subparsers(dest="area", required=True)
    for module_info in sorted(pkgutil.iter_modules(meterctl.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"meterctl.{module_info.name}")
        add_commands = getattr(module, "add_commands", None)
        if add_commands is not None:
            add_commands(areas)
    return parser


def fail(message: str, code: int = 1) -> int:
    print(f"meterctl: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command; ``environ`` stands for the process environment (``make run`` uses it)."""
    args = build_parser().parse_args(argv)
    # The client libraries' own connection logs would repeat our one line.
    for library in ("aiormq", "aio_pika", "pymongo"):
        logging.getLogger(library).setLevel(logging.CRITICAL)
    try:
        settings = CommonSettings.from_env(environ)
    except SettingsError as exc:
        return fail(str(exc), 2)
    try:
        return int(args.func(args, settings))
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except (aio_pika.exceptions.AMQPConnectionError, ConnectionError) as exc:
        return fail(
            f"the broker at {without_password(settings.rabbitmq_url)} does not answer "
            f"({type(exc).__name__}: {exc}); is it running? (RABBITMQ_URL)"
        )
    except pymongo.errors.ServerSelectionTimeoutError as exc:
        return fail(
            f"MongoDB at {without_password(settings.mongo_url)} does not answer "
            f"({str(exc).split(',')[0]}); is it running? (MONGO_URL)"
        )
    except TimeoutError:
        return fail("timed out waiting for an answer")


if __name__ == "__main__":
    sys.exit(main())
