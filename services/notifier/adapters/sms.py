"""SMS through the generic HTTP gateway of docs/reference/notifications.md (httpx).

``POST SMS_GATEWAY_URL`` with ``{"to", "text", "reference"}`` and an optional bearer token:
2xx accepted (``{"id"}`` kept as the receipt), 4xx permanent, 5xx or time-out retried.
Connecting and sending must each be done within ``timeout``; once the SMS is sent, its
answer is awaited ``answer_timeout`` (long: an SMS the gateway took but answered late would
reach the citizen twice if sent again). A repeat carries the same ``reference``.
One HTTP client per process (made at the first SMS, closed by ``aclose`` on shutdown)
keeps its connections open for the next SMS, at most ``connections`` of them.
Another gateway is one more class with ``async send(sms) -> receipt``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

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
    ) -> None:
        self.url, self.token = url, token
        self.timeout = httpx.Timeout(timeout, read=answer_timeout)
        self.limits = httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, limits=self.limits)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def send(self, sms: Sms) -> str | None:
        if not self.url:
            raise DeliveryFailed("SMS_GATEWAY_URL is not set", permanent=False)
        if not _E164.match(sms.to):
            raise DeliveryFailed("invalid phone number: not E.164", permanent=True)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = {"to": sms.to, "text": sms.text, "reference": sms.reference}
        try:
            response = await self.client.post(
                self.url, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers
            )
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(
                f"gateway time-out ({type(exc).__name__})", permanent=False
            ) from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"gateway unreachable: {type(exc).__name__}: {exc}", permanent=False
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return _receipt(response)
        detail = f"gateway answered {status}: {response.text[:200]}"
        permanent = 400 <= status < 500 and status not in _RETRYABLE_4XX
        raise DeliveryFailed(detail, permanent=permanent)


def _receipt(response: httpx.Response) -> str | None:
    try:
        payload: Any = response.json()
    except ValueError:
        return None
    if isinstance(payload, dict) and payload.get("id") is not None:
        return str(payload["id"])
    return None
