"""SMS through the generic HTTP gateway of DESIGN.md section 6 (httpx).

``POST SMS_GATEWAY_URL`` with ``{"to", "text", "reference"}`` and an optional bearer token:
2xx accepted (``{"id"}`` kept as the receipt), 4xx permanent, 5xx or time-out retried.
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
    def __init__(self, *, url: str, token: str = "", timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

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
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(
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
