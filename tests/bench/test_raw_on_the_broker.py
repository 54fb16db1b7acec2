"""The raw baseline really goes through the broker: every request is echoed back."""

from __future__ import annotations

from bench import raw


async def test_the_raw_baseline_echoes_every_request_through_a_quorum_queue(
    rabbitmq_url: str,
) -> None:
    result = await raw.measure(rabbitmq_url, requests=200, concurrency=8)
    assert result["requests"] == 200
    assert result["latency_ms"]["count"] == 200
    assert result["deliveries_per_s"] > 0
