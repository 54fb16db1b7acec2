"""The poison bodies are what issue 11 describes."""

from __future__ import annotations

import json

import pytest

from faults.poison import TEN_MB, bodies

LIMIT = 64 * 1024  # MAX_MESSAGE_BYTES by default


def by_name() -> dict[str, bytes]:
    return {poison.name: poison.body for poison in bodies(big=True)}


def test_the_deepest_nesting_is_100000_levels_and_another_fits_the_size_limit() -> None:
    found = by_name()
    assert found["nesting 100,000 deep"].count(b"[") == 100_000
    under = found["nesting 30,000 deep (under the size limit)"]
    assert len(under) < LIMIT
    with pytest.raises(RecursionError):
        json.loads(under)


def test_the_integers_have_5000_digits_and_python_refuses_them() -> None:
    with pytest.raises(ValueError, match="digits"):
        json.loads(by_name()["5,000-digit integer"])


def test_the_invalid_utf8_body_does_not_decode() -> None:
    with pytest.raises(UnicodeDecodeError):
        by_name()["invalid UTF-8"].decode("utf-8")


def test_the_big_body_is_10_mb_and_only_sent_when_asked() -> None:
    assert len(by_name()["10 MB body"]) > TEN_MB
    assert all(len(poison.body) < TEN_MB for poison in bodies(big=False))


def test_a_delivery_count_header_that_is_not_a_number_rides_on_a_valid_body() -> None:
    [poison] = [p for p in bodies() if p.headers]
    assert poison.headers["x-delivery-count"] == "abc"
    assert json.loads(poison.body)["application_number"] == "SQ-2026-999999"
