"""Health and metrics rules that need no server: settings, sampled gauges, counted providers,
the outcome a settled delivery is counted under."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import generate_latest

from shared.consuming import _settled_as
from shared.contracts.replies import Refused
from shared.delivery import Outcome
from shared.metrics import Counted, ServiceMetrics
from shared.settings import CommonSettings, SettingsError


def test_each_service_has_its_own_health_port_unless_health_port_is_set() -> None:
    default = CommonSettings.from_env({})
    assert [default.health_port_of(name) for name in ("intake", "dispatcher")] == [9101, 9102]
    assert [default.health_port_of(name) for name in ("notifier", "status")] == [9103, 9104]
    assert default.health_host == "127.0.0.1"
    chosen = CommonSettings.from_env({"HEALTH_PORT": "9100", "HEALTH_HOST": " 0.0.0.0 "})
    assert chosen.health_port_of("status") == 9100
    assert chosen.health_host == "0.0.0.0"
    assert CommonSettings.from_env({"HEALTH_PORT": "0"}).health_port_of("intake") == 0


def test_a_health_port_out_of_range_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="HEALTH_PORT='70000' is not valid"):
        CommonSettings.from_env({"HEALTH_PORT": "70000"})


def test_several_broker_urls_separated_by_commas_are_the_nodes_of_one_cluster() -> None:
    settings = CommonSettings.from_env(
        {"RABBITMQ_URL": "amqp://u:p@node1:5672/v, amqp://u:p@node2:5672/v,,amqps://u:p@n3/v"}
    )
    assert settings.rabbitmq_urls == (
        "amqp://u:p@node1:5672/v",
        "amqp://u:p@node2:5672/v",
        "amqps://u:p@n3/v",
    )
    assert CommonSettings.from_env({}).rabbitmq_urls == ("amqp://guest:guest@localhost:5672/",)


def test_a_broker_address_that_is_not_an_amqp_url_is_refused_without_its_password() -> None:
    with pytest.raises(SettingsError) as caught:
        CommonSettings.from_env({"RABBITMQ_URL": "amqp://u:p@node1/v,http://u:secret@node2/"})
    assert "RABBITMQ_URL=" in str(caught.value)
    assert "is not an amqp:// URL" in str(caught.value)
    assert "secret" not in str(caught.value)


def text(metrics: ServiceMetrics) -> str:
    return generate_latest(metrics.registry).decode()


async def test_a_gauge_is_sampled_when_scraped_and_at_most_once_per_interval() -> None:
    metrics = ServiceMetrics("dispatcher", min_interval=60)
    calls: list[int] = []

    async def waiting() -> float:
        calls.append(1)
        return 3

    metrics.gauge("meter_test_waiting", "rows waiting", waiting)
    await metrics.exposition()
    body, content_type = await metrics.exposition()
    assert "meter_test_waiting 3.0" in body.decode()
    assert content_type.startswith("text/plain")
    assert len(calls) == 1


async def test_a_gauge_that_cannot_be_read_shows_nan_and_the_others_are_still_read() -> None:
    metrics = ServiceMetrics("notifier", sample_timeout=0.05)

    async def broken() -> float:
        raise ConnectionError("database down")

    async def slow() -> float:
        await asyncio.sleep(1)
        return 1.0

    async def fine() -> float:
        return 7.0

    metrics.gauge("meter_test_broken", "broken", broken)
    metrics.gauge("meter_test_slow", "slow", slow)
    metrics.gauge("meter_test_fine", "fine", fine)
    await metrics.sample()
    exposed = text(metrics)
    assert "meter_test_broken NaN" in exposed
    assert "meter_test_slow NaN" in exposed
    assert "meter_test_fine 7.0" in exposed


def test_the_outbox_backlog_is_read_when_scraped() -> None:
    metrics = ServiceMetrics("intake")
    backlog = [0]
    metrics.outbox(lambda: backlog[0])
    backlog[0] = 12
    assert 'meter_outbox_backlog{service="intake"} 12.0' in text(metrics)


class Failure(Exception):
    def __init__(self, *, permanent: bool) -> None:
        super().__init__("refused")
        self.permanent = permanent


class Provider:
    def __init__(self, *results: str | Exception) -> None:
        self.results = list(results)

    async def send(self, message: str, /) -> str | None:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


async def test_delivery_attempts_are_counted_as_sent_retried_or_failed() -> None:
    metrics = ServiceMetrics("notifier")
    counter = metrics.counter("meter_test_deliveries", "attempts", ("channel", "state"))
    sms = Counted(
        Provider("id-1", Failure(permanent=False), Failure(permanent=True), ConnectionError()),
        counter,
        "sms",
    )
    assert await sms.send("hello") == "id-1"
    for _ in range(3):
        with pytest.raises(Exception):  # noqa: B017 - each error goes through unchanged
            await sms.send("hello")
    exposed = text(metrics)
    assert 'meter_test_deliveries_total{channel="sms",state="sent"} 1.0' in exposed
    assert 'meter_test_deliveries_total{channel="sms",state="retried"} 2.0' in exposed
    assert 'meter_test_deliveries_total{channel="sms",state="failed"} 1.0' in exposed


@pytest.mark.parametrize(
    ("outcome", "counted_as"),
    [
        (Outcome({"outcome": "accepted"}, {"outcome": "accepted"}), "handled"),
        (Outcome(None, {"outcome": "recorded"}), "handled"),
        (Outcome(Refused(errors=[]), {"outcome": "refused"}), "refused"),
        (Outcome(Refused(errors=[]), {"outcome": "forbidden"}), "refused"),
        (Outcome(None, {"outcome": "unauthenticated"}), "refused"),
        (Outcome(log={"outcome": "malformed", "parked": True}), "malformed"),
        (Outcome(log={"outcome": "too_large", "parked": True}), "too_large"),
    ],
)
def test_a_settled_delivery_is_counted_under_one_outcome(outcome: Outcome, counted_as: str) -> None:
    assert _settled_as(outcome) == counted_as
