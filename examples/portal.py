"""A citizens' portal (e-gov, azersu or e-su), with nothing but aio-pika.

    make portal ARGS="reasons en"                        # the reasons to apply, in a language
    make portal ARGS="accounts 5ABCD12"                  # the citizen's subscriber codes
    make portal ARGS="check 5ABCD12 1000001"             # one subscriber code of the citizen
    make portal ARGS='submit 5ABCD12 1000001 new_installation "050 123 45 67" me@example.az'
    make portal ARGS="status 5ABCD12 SQ-2026-000001"     # one application, with its timeline
    make portal ARGS="list 5ABCD12"                      # the citizen's applications
    make portal ARGS="withdraw 5ABCD12 SQ-2026-000001"   # take an application back
    make portal ARGS="watch"                             # the channel's updates, live

It connects as its own broker user: ``PORTAL_USER`` (default: the user of ``RABBITMQ_URL``,
``guest`` locally) with ``PORTAL_PASSWORD`` when that user is not the URL's; an amqps://
URL is verified against ``RABBITMQ_CA_FILE``. Requests go to ``meter.commands`` with
``user_id`` set to the user (RabbitMQ checks it), a ``correlation_id`` and Direct Reply-to;
the reply is printed, and a refusal exits 1. ``watch [CHANNEL]`` (default
``PORTAL_CHANNEL``, else ``e-gov``) keeps the durable queue ``portal.<channel>.updates``
bound to ``meter.portal`` with ``<channel>.application_updated`` and prints one line per
update: number, status, label, overdue. Updates sent while it was not running wait in
that queue. Each update is the whole view after a change: a portal keeps the latest as
the application's state (it is not a log to replay).

Every failure (no broker, no reply in time, a refusal by the broker, a wrong argument)
is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import urllib.parse
import uuid
from collections.abc import Mapping
from typing import Any, NoReturn

import aio_pika
import aio_pika.exceptions

DEFAULT_URL = "amqp://guest:guest@localhost:5672/"
COMMANDS_EXCHANGE = "meter.commands"
PORTAL_EXCHANGE = "meter.portal"
LANGUAGES = ("az", "en", "ru")
REFUSALS = ("refused", "not_found")


class Failure(Exception):
    """What went wrong, in one line for the user."""


class Parser(argparse.ArgumentParser):
    """argparse, answering a wrong argument with one line instead of the usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def connection_of(environ: Mapping[str, str]) -> tuple[str, str]:
    """The URL to connect with and the broker user it authenticates as."""
    url = environ.get("RABBITMQ_URL") or DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    url_user = urllib.parse.unquote(parts.username or "guest")
    user = environ.get("PORTAL_USER") or url_user
    if user == url_user:
        return url, user
    password = environ.get("PORTAL_PASSWORD")
    if not password:
        raise Failure(f"PORTAL_USER={user} needs PORTAL_PASSWORD, the user's password")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), user


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


async def connect(url: str, seconds: float) -> aio_pika.abc.AbstractConnection:
    # TLS: an amqps:// URL is verified against RABBITMQ_CA_FILE (aio-pika's cafile).
    ca_file = os.environ.get("RABBITMQ_CA_FILE")
    if ca_file and url.startswith("amqps://") and "cafile=" not in url:
        url += ("&" if "?" in url else "?") + "cafile=" + urllib.parse.quote(ca_file)
    try:
        return await asyncio.wait_for(aio_pika.connect(url), seconds)
    except TimeoutError:
        raise Failure(f"the broker at {shown(url)} did not answer within {seconds:g} s") from None
    except aio_pika.exceptions.ProbableAuthenticationError:
        raise Failure(f"the broker at {shown(url)} refused the user name or password") from None
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        if "Connection.Close" in str(exc):  # the broker closed it while opening the vhost
            vhost = urllib.parse.unquote(urllib.parse.urlsplit(url).path[1:]) or "/"
            raise Failure(
                f"the broker at {shown(url)} refused the connection: "
                f"is there a virtual host {vhost!r}, and may this user use it?"
            ) from None
        raise Failure(f"cannot connect to the broker at {shown(url)}: {exc}") from None


async def request(
    url: str, user: str, call: tuple[str, dict[str, Any], str], seconds: float
) -> Any:
    routing_key, body, message_type = call
    connection = await connect(url, seconds)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        replies: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()
        # Direct Reply-to: consume the pseudo-queue (no-ack) before publishing.
        reply_queue = await channel.get_queue("amq.rabbitmq.reply-to", ensure=False)
        await reply_queue.consume(replies.put, no_ack=True)
        correlation_id = str(uuid.uuid4())
        commands = await channel.get_exchange(COMMANDS_EXCHANGE, ensure=False)
        await commands.publish(
            aio_pika.Message(
                json.dumps(body, ensure_ascii=False).encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(uuid.uuid4()),
                correlation_id=correlation_id,
                reply_to="amq.rabbitmq.reply-to",
                user_id=user,
                app_id="example-portal",
                type=message_type,
            ),
            routing_key=routing_key,
        )
        try:
            while True:
                reply = await asyncio.wait_for(replies.get(), seconds)
                if reply.correlation_id == correlation_id:
                    return json.loads(reply.body)
        except TimeoutError:
            service = routing_key.partition(".")[0]
            raise Failure(
                f"no reply within {seconds:g} s: is the {service} service running?"
            ) from None


def update_line(body: Any) -> str:
    """One update as one line: number, status, label, overdue."""
    view = body if isinstance(body, dict) else {}
    late = "overdue" if view.get("overdue") else "on time"
    due = f" (due {view['due_by']})" if view.get("due_by") else ""
    number, status = view.get("application_number", "?"), view.get("status", "?")
    return f"{number}  {status}  {view.get('status_label', '?')}  {late}{due}"


async def watch(url: str, user: str, channel_name: str, seconds: float) -> None:
    connection = await connect(url, seconds)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)
        exchange = await channel.get_exchange(PORTAL_EXCHANGE, ensure=False)
        queue = await channel.declare_queue(f"portal.{channel_name}.updates", durable=True)
        await queue.bind(exchange, routing_key=f"{channel_name}.application_updated")
        print(f"watching {channel_name} updates as {user} (Ctrl-C stops)", flush=True)
        # An update comes with every change of the view (a notification's outcome too);
        # a line is printed when what it shows changes.
        shown: dict[str, str] = {}
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    try:
                        body = json.loads(message.body)
                    except ValueError:
                        body = None
                    line = update_line(body)
                    number = line.split(" ", 1)[0]
                    if shown.get(number) != line:
                        shown[number] = line
                        print(line, flush=True)


def call_of(args: argparse.Namespace) -> tuple[str, dict[str, Any], str]:
    """The command's routing key, body and message type."""
    match args.command:
        case "reasons":
            return "intake.list_reasons", {"language": args.language}, "ListReasons"
        case "accounts":
            body = {"applicant_fin": args.fin}
            return "intake.list_subscriber_accounts", body, "ListSubscriberAccounts"
        case "check":
            body = {"applicant_fin": args.fin, "subscriber_code": args.code}
            return "intake.check_subscriber", body, "CheckSubscriber"
        case "submit":
            body = {
                "submission_id": str(uuid.uuid4()),
                "applicant_fin": args.fin,
                "subscriber_code": args.code,
                "reason_code": args.reason,
                "phone": args.phone,
                "email": args.email,
                "notes": args.notes,
                "data_confirmed": True,
                "additional_meter_confirmed": args.additional,
                "language": args.language,
            }
            return "intake.submit_application", body, "SubmitApplication"
        case "status":
            body = {"applicant_fin": args.fin, "application_number": args.number}
            return "status.get_application", body, "GetApplication"
        case "list":
            return "status.list_applications", {"applicant_fin": args.fin}, "ListApplications"
        case _:  # withdraw
            body = {
                "applicant_fin": args.fin,
                "application_number": args.number,
                "language": args.language,
            }
            return "dispatcher.withdraw_application", body, "WithdrawApplication"


def parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    top = Parser(prog="portal", description="A citizens' portal: requests and live updates.")
    top.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the broker or a reply"
    )
    commands = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    language = {"choices": LANGUAGES, "default": "az", "help": "the replies' language"}
    reasons = commands.add_parser("reasons", help="the reasons to apply for")
    reasons.add_argument("language", nargs="?", choices=LANGUAGES, default="az", metavar="LANG")
    commands.add_parser("accounts", help="the citizen's subscriber codes").add_argument("fin")
    check = commands.add_parser("check", help="one subscriber code of the citizen")
    check.add_argument("fin")
    check.add_argument("code")
    submit = commands.add_parser("submit", help="apply for a meter")
    for name in ("fin", "code", "reason", "phone", "email"):
        submit.add_argument(name)
    submit.add_argument("--additional", action="store_true", help="confirm an additional meter")
    submit.add_argument("--language", **language)
    submit.add_argument("--notes", default="", help="free text, at most 1000 characters")
    status = commands.add_parser("status", help="one application, with its timeline")
    status.add_argument("fin")
    status.add_argument("number")
    commands.add_parser("list", help="the citizen's applications").add_argument("fin")
    withdraw = commands.add_parser("withdraw", help="take an application back")
    withdraw.add_argument("fin")
    withdraw.add_argument("number")
    withdraw.add_argument("--language", **language)
    watching = commands.add_parser("watch", help="print the channel's updates as they come")
    default = environ.get("PORTAL_CHANNEL") or "e-gov"
    watching.add_argument("channel", nargs="?", default=default, help=f"default {default}")
    return top


def reason(exc: Exception) -> str:
    """The broker's own words of a channel closure: ``ACCESS_REFUSED - access to …``."""
    texts = [arg for arg in exc.args if isinstance(arg, str)]
    return texts[-1] if texts else str(exc)


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    args = parser(environ).parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # aio-pika's own logs: the one line is ours
    try:
        url, user = connection_of(environ)
        if args.command == "watch":
            asyncio.run(watch(url, user, args.channel, args.timeout))
            return 0
        answer = asyncio.run(request(url, user, call_of(args), args.timeout))
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        refused = isinstance(answer, dict) and answer.get("outcome") in REFUSALS
        return 1 if refused else 0
    except Failure as failure:
        print(f"portal: {failure}", file=sys.stderr)
    except aio_pika.exceptions.AMQPError as exc:  # the broker closed the channel: why, in one line
        text = reason(exc)
        hint = " (have the services started in this virtual host?)" if "no exchange" in text else ""
        print(f"portal: the broker refused: {text}{hint}", file=sys.stderr)
    except (ConnectionError, OSError) as exc:
        print(f"portal: the connection to the broker was lost: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
