"""A field team's app, with nothing but aio-pika.

    make field-app ARGS="follow T-01"              # print the team's work orders as assigned
    make field-app ARGS="follow T-01 T-02"         # several teams at once
    make field-app ARGS="report SQ-2026-000001 installed"      # a work order it followed
    make field-app ARGS="report SQ-2026-000001 not_executed unsuitable_water_line"
    make field-app ARGS="report SQ-2026-000001 WO-3F9A1C0B7D2E4F61 T-01 installed"

It connects as its own broker user: ``FIELD_APP_USER`` (default: the user of
``RABBITMQ_URL``, ``guest`` locally) with ``FIELD_APP_PASSWORD`` when that user is not the
URL's. ``follow`` keeps the durable queue ``field.<user>.orders`` bound to ``meter.field``
with ``team.<team>`` for each team given, so work orders assigned while it was not
running are printed the next time it starts (bindings added once stay until the queue is
deleted); it keeps each work order it printed in ``FIELD_APP_ORDERS`` (default
``var/field-app/orders.json``), so ``report NUMBER OUTCOME`` needs no more than the
application number. ``report`` sends ``dispatcher.report_outcome`` with ``user_id`` set to
the user, as RabbitMQ requires, and prints the reply.

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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import aio_pika
import aio_pika.exceptions

DEFAULT_URL = "amqp://guest:guest@localhost:5672/"
FIELD_EXCHANGE = "meter.field"
COMMANDS_EXCHANGE = "meter.commands"
OUTCOMES = ("installed", "existing_meter_registered", "not_executed")
REASONS = ("unsuitable_water_line", "no_meter_stock")
BAKU = timezone(timedelta(hours=4))


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
    user = environ.get("FIELD_APP_USER") or url_user
    if user == url_user:
        return url, user
    password = environ.get("FIELD_APP_PASSWORD")
    if not password:
        raise Failure(f"FIELD_APP_USER={user} needs FIELD_APP_PASSWORD, the user's password")
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


def orders_file(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("FIELD_APP_ORDERS") or "var/field-app/orders.json")


def remember(path: Path, order: Mapping[str, Any]) -> None:
    """Keep a followed work order, so a report may name just its application."""
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    known[order["application_number"]] = {
        "work_order_id": order["work_order_id"],
        "team_id": order["team_id"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=1), encoding="utf-8")


def recalled(path: Path, number: str) -> tuple[str, str]:
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if number not in known:
        raise Failure(
            f"{number}: no work order followed for it in {path}; give it as "
            "report NUMBER WORK_ORDER TEAM OUTCOME"
        )
    return str(known[number]["work_order_id"]), str(known[number]["team_id"])


async def follow(url: str, user: str, teams: list[str], seconds: float, orders: Path) -> None:
    connection = await connect(url, seconds)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=10)
        exchange = await channel.get_exchange(FIELD_EXCHANGE, ensure=False)
        queue = await channel.declare_queue(f"field.{user}.orders", durable=True)
        for team in teams:
            await queue.bind(exchange, routing_key=f"team.{team}")
        print(f"following {', '.join(teams)} as {user} (Ctrl-C stops)", flush=True)
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    order = json.loads(message.body)
                    remember(orders, order)
                    print(json.dumps(order, ensure_ascii=False), flush=True)
                    print(
                        '  report: make field-app ARGS="report '
                        f'{order["application_number"]} installed"',
                        flush=True,
                    )


def report_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {
        "application_number": args.application_number,
        "work_order_id": args.work_order_id,
        "team_id": args.team_id,
        "outcome": args.outcome,
        "comment": args.comment,
    }
    if args.outcome == "not_executed":
        body["reason_code"] = args.reason
        return body
    body["act"] = {
        "act_number": f"AKT-{args.application_number.removeprefix('SQ-')}",
        "meter_serial": f"WM-{uuid.uuid4().hex[:8].upper()}",
        "meter_model": "Sensus 620",
        "initial_reading_m3": "0.000",
        "seal_numbers": ["PL-1001"],
        "installed_at": datetime.now(BAKU).isoformat(timespec="seconds"),
        "installer_name": "Rəşad Məmmədov",
    }
    return body


async def report(url: str, user: str, body: dict[str, Any], seconds: float) -> dict[str, Any]:
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
                app_id="example-field-app",
                type="ReportOutcome",
            ),
            routing_key="dispatcher.report_outcome",
        )
        try:
            while True:
                reply = await asyncio.wait_for(replies.get(), seconds)
                if reply.correlation_id == correlation_id:
                    answer: dict[str, Any] = json.loads(reply.body)
                    return answer
        except TimeoutError:
            raise Failure(f"no reply within {seconds:g} s: is the dispatcher running?") from None


def reason(exc: Exception) -> str:
    """The broker's own words of a channel closure: ``NOT_FOUND - no exchange …``."""
    texts = [arg for arg in exc.args if isinstance(arg, str)]
    return texts[-1] if texts else str(exc)


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="field_app", description="A field team's app: work orders and reports.")
    top.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the broker or a reply"
    )
    commands = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    following = commands.add_parser("follow", help="print the teams' work orders as assigned")
    following.add_argument("teams", nargs="+", metavar="TEAM", help="a team id such as T-01")
    reporting = commands.add_parser(
        "report",
        help="report the outcome of a work order",
        usage="field_app report NUMBER [WORK_ORDER TEAM] OUTCOME [REASON] [--comment TEXT]",
    )
    reporting.add_argument(
        "words",
        nargs="+",
        metavar="NUMBER [WORK_ORDER TEAM] OUTCOME [REASON]",
        help=f"OUTCOME is one of {', '.join(OUTCOMES)}; REASON one of {', '.join(REASONS)}",
    )
    reporting.add_argument("--comment", default="", help="free text for the citizen")
    return top


def read_report(args: argparse.Namespace, orders: Path) -> argparse.Namespace:
    """``NUMBER OUTCOME [REASON]`` (a followed work order) or the long form with its ids."""
    words = list(args.words)
    long_form = len(words) >= 4 and words[3] in OUTCOMES
    if not long_form and not (len(words) >= 2 and words[1] in OUTCOMES):
        raise Usage(f"expected NUMBER [WORK_ORDER TEAM] OUTCOME [REASON], got {' '.join(words)}")
    rest = words[4:] if long_form else words[2:]
    if len(rest) > 1 or (rest and rest[0] not in REASONS):
        raise Usage(f"REASON must be one of {', '.join(REASONS)}, got {' '.join(rest)}")
    if long_form:
        number, work_order, team, outcome = words[:4]
    else:
        number, outcome = words[:2]
        work_order, team = recalled(orders, number)
    return argparse.Namespace(
        application_number=number,
        work_order_id=work_order,
        team_id=team,
        outcome=outcome,
        reason=rest[0] if rest else "unsuitable_water_line",
        comment=args.comment,
    )


class Usage(Exception):
    """A wrong argument: exit code 2."""


def main(argv: list[str], environ: Mapping[str, str]) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # aio-pika's own logs: the one line is ours
    orders = orders_file(environ)
    try:
        url, user = connection_of(environ)
        if args.command == "follow":
            asyncio.run(follow(url, user, args.teams, args.timeout, orders))
            return 0
        body = report_body(read_report(args, orders))
        answer = asyncio.run(report(url, user, body, args.timeout))
        print(json.dumps(answer, ensure_ascii=False, indent=2))
        return 0 if answer.get("outcome") == "accepted" else 1
    except Usage as usage:
        print(f"field_app report: {usage} (see --help)", file=sys.stderr)
        return 2
    except Failure as failure:
        print(f"field_app: {failure}", file=sys.stderr)
    except aio_pika.exceptions.AMQPError as exc:  # the broker closed the channel: why, in one line
        text = reason(exc)
        hint = " (have the services started in this virtual host?)" if "no exchange" in text else ""
        print(f"field_app: the broker refused: {text}{hint}", file=sys.stderr)
    except (ConnectionError, OSError) as exc:
        print(f"field_app: the connection to the broker was lost: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
