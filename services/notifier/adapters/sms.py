"""SMS through the generic HTTP gateway of docs/integration.md ("The SMS gateway").

``POST SMS_GATEWAY_URL`` with ``{"to", "text", "reference"}`` and an optional bearer token:
2xx accepted (``{"id"}`` kept as the receipt), 4xx permanent, 5xx or time-out retried.
Waiting for a free connection, connecting and sending must each be done within ``timeout``;
once the SMS is sent, its answer is awaited ``answer_timeout`` (long: an SMS the gateway
took but answered late would reach the citizen twice if sent again). A repeat carries the
same ``reference``. One connection pool per process (``http11.Origin``, made at the first
SMS, closed by ``aclose`` on shutdown) keeps at most ``connections`` connections open for
the next SMS, directly or through ``proxy`` (an ``http://`` forward proxy). Another gateway
is one more class with ``async send(sms) -> receipt``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.notifier.adapters.http11 import Answer, HttpFailure, Origin, TimedOut
from services.notifier.domain.providers import DeliveryFailed, Sms

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_RETRYABLE_4XX = {408, 425, 429}


class HttpSmsGateway:
    def __init__(
        self,
        *,
        url: str,
        token: str = "",
        timeout: float = 10.0,
        answer_timeout: float = 600.0,
        connections: int = 16,
        proxy: str = "",
    ) -> None:
        self.url, self.token, self.proxy = url, token, proxy
        self.timeout, self.answer_timeout, self.connections = timeout, answer_timeout, connections
        self.headers = [("Content-Type", "application/json; charset=utf-8")]
        if token:
            self.headers.append(("Authorization", f"Bearer {token}"))
        self._origin: Origin | None = None

    @property
    def origin(self) -> Origin:
        if self._origin is None:
            self._origin = Origin(
                self.url,
                connections=self.connections,
                timeout=self.timeout,
                answer_timeout=self.answer_timeout,
                proxy=self.proxy or None,
            )
        return self._origin

    async def aclose(self) -> None:
        origin, self._origin = self._origin, None
        if origin is not None:
            await origin.aclose()

    async def send(self, sms: Sms) -> str | None:
        if not self.url:
            raise DeliveryFailed("SMS_GATEWAY_URL is not set", permanent=False)
        if not _E164.match(sms.to):
            raise DeliveryFailed("invalid phone number: not E.164", permanent=True)
        body = {"to": sms.to, "text": sms.text, "reference": sms.reference}
        try:
            answer = await self.origin.post(
                json.dumps(body, ensure_ascii=False).encode(), self.headers
            )
        except TimedOut as exc:
            raise DeliveryFailed(f"gateway time-out ({exc})", permanent=False) from exc
        except (HttpFailure, ValueError) as exc:
            raise DeliveryFailed(f"gateway unreachable: {exc}", permanent=False) from exc
        status = answer.status
        if 200 <= status < 300:
            return _receipt(answer)
        text = answer.body.decode("utf-8", errors="replace")[:200]
        permanent = 400 <= status < 500 and status not in _RETRYABLE_4XX
        raise DeliveryFailed(f"gateway answered {status}: {text}", permanent=permanent)


def _receipt(answer: Answer) -> str | None:
    try:
        payload: Any = json.loads(answer.body)
    except ValueError:
        return None
    if isinstance(payload, dict) and payload.get("id") is not None:
        return str(payload["id"])
    return None
