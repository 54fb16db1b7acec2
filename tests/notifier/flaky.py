"""A store that fails as MongoDB does when it is down, wrapped around any notifier store.

While ``down`` every call raises what the driver raises for an unreachable server
(``AutoReconnect`` or ``ServerSelectionTimeoutError``, taking turns). ``lose_saves``
outcome writes fail after they were written (the answer lost on the way back), and
``lose_claims`` claims likewise;
``refuse_saves`` fail before; ``hang_saves`` are never answered at all. ``calls`` counts
the calls by method.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo.errors import AutoReconnect, PyMongoError, ServerSelectionTimeoutError


def outage_errors() -> Callable[[], PyMongoError]:
    """What the driver raises while the server is unreachable, the two kinds by turns."""
    kinds = itertools.cycle([True, False])

    def error() -> PyMongoError:
        if next(kinds):
            return AutoReconnect("connection refused")
        return ServerSelectionTimeoutError("No servers found yet, Timeout: 5.0s")

    return error


class FlakyStore:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.down = False
        self.refuse_saves = 0
        self.lose_saves = 0
        self.hang_saves = 0
        self.lose_claims = 0
        self.calls: Counter[str] = Counter()
        self.failed = 0
        self._error = outage_errors()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if not callable(target):
            return target
        return self._wrapped(name, target)

    def _wrapped(self, name: str, target: Callable[..., Awaitable[Any]]) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == "save_and_publish" and self.hang_saves > 0:
                self.hang_saves -= 1
                await asyncio.Event().wait()  # a server that never answers
            if self.down or (name == "save_and_publish" and self.refuse_saves > 0):
                if not self.down:
                    self.refuse_saves -= 1
                self.failed += 1
                raise self._error()
            result = await target(*args, **kwargs)
            if name == "save_and_publish" and self.lose_saves > 0:
                self.lose_saves -= 1
                self.failed += 1
                raise self._error()
            if name == "claim" and result and self.lose_claims > 0:
                self.lose_claims -= 1
                self.failed += 1
                raise self._error()
            return result

        return call
