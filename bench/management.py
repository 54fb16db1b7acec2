"""The few calls of the broker's management API the benchmark makes: a vhost of its own,
the consumers of its queues, and how many messages each queue has delivered."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable


class Management:
    """The few management API calls the benchmark needs (guest is an administrator)."""

    def __init__(self, amqp_url: str, api: str | None = None) -> None:
        parts = urllib.parse.urlsplit(amqp_url)
        self.amqp = parts
        self.api = (api or f"http://{parts.hostname or 'localhost'}:15672").rstrip("/")
        user = urllib.parse.unquote(parts.username or "guest")
        password = urllib.parse.unquote(parts.password or "guest")
        self.user = user
        self._token = base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body: object | None = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}/api/{path}", data=data, method=method)
        request.add_header("Authorization", f"Basic {self._token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def create_vhost(self, name: str) -> str:
        quoted = urllib.parse.quote(name, safe="")
        self.call("PUT", f"vhosts/{quoted}", {})
        self.call(
            "PUT",
            f"permissions/{quoted}/{urllib.parse.quote(self.user, safe='')}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        return urllib.parse.urlunsplit((self.amqp.scheme, self.amqp.netloc, "/" + quoted, "", ""))

    def delete_vhost(self, name: str) -> None:
        try:
            self.call("DELETE", f"vhosts/{urllib.parse.quote(name, safe='')}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise

    def version(self) -> str | None:
        try:
            overview = self.call("GET", "overview")
        except (OSError, urllib.error.URLError, ValueError):
            return None
        return str(overview.get("rabbitmq_version")) if isinstance(overview, dict) else None

    def consumed(self, vhost: str) -> set[str]:
        """The vhost's queues that have at least one consumer."""
        quoted = urllib.parse.quote(vhost, safe="")
        rows = self.call("GET", f"queues/{quoted}?columns=name,consumers")
        return (
            {row["name"] for row in rows if row.get("consumers")}
            if isinstance(rows, list)
            else set()
        )

    def deliveries(self, vhost: str) -> dict[str, int]:
        """Messages the broker has delivered (or handed to basic.get) from each queue."""
        quoted = urllib.parse.quote(vhost, safe="")
        rows = self.call("GET", f"queues/{quoted}?columns=name,message_stats.deliver_get")
        result: dict[str, int] = {}
        for row in rows if isinstance(rows, list) else []:
            stats = row.get("message_stats") or {}
            result[str(row["name"])] = int(stats.get("deliver_get") or 0)
        return result

    def settled_deliveries(
        self, vhost: str, queues: Iterable[str], quiet: float = 6.0, limit: float = 60.0
    ) -> dict[str, int]:
        """Per-queue deliveries once the counters stop moving.

        The broker refreshes these statistics every few seconds (5 by default): a reading
        taken right after the last delivery may miss it, so read until two readings
        ``quiet`` seconds apart agree (at most ``limit`` seconds).
        """
        names = set(queues)
        deadline = time.monotonic() + limit
        last = {k: v for k, v in self.deliveries(vhost).items() if k in names}
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = {k: v for k, v in self.deliveries(vhost).items() if k in names}
            if now == last:
                return now
            last = now
        return last
