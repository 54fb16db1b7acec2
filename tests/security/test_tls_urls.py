"""The CA file settings reach the URLs as the clients read them (no server needed)."""

from __future__ import annotations

from pathlib import Path

import aiormq
import pytest
from pymongo import uri_parser
from yarl import URL

from shared.settings import CommonSettings, SettingsError
from shared.tls import amqp_url, mongo_url


@pytest.fixture
def ca_file(tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


async def test_an_amqps_url_gets_the_ca_file_as_aiormq_reads_it(ca_file: str) -> None:
    # aiormq binds the running loop when built; inside a coroutine one always exists.
    settings = CommonSettings.from_env(
        {"RABBITMQ_URL": "amqps://svc-intake:pw@rabbit:5671/meter", "RABBITMQ_CA_FILE": ca_file}
    )
    assert settings.rabbitmq_url == f"amqps://svc-intake:pw@rabbit:5671/meter?cafile={ca_file}"
    connection = aiormq.Connection(URL(settings.rabbitmq_url))
    assert connection.ssl_certs.cafile == ca_file


def test_a_url_naming_its_own_ca_or_without_tls_is_left_as_given(ca_file: str) -> None:
    own = "amqps://u:p@rabbit/?cafile=/etc/tls/other.pem"
    assert amqp_url(own, ca_file) == own
    assert amqp_url("amqp://u:p@rabbit/", ca_file) == "amqp://u:p@rabbit/"
    assert amqp_url("amqps://u:p@rabbit/", "") == "amqps://u:p@rabbit/"


def test_every_node_of_a_cluster_gets_the_ca_file(ca_file: str) -> None:
    both = amqp_url("amqps://u:p@a:5671/v, amqps://u:p@b:5671/v", ca_file)
    assert both == f"amqps://u:p@a:5671/v?cafile={ca_file},amqps://u:p@b:5671/v?cafile={ca_file}"


def test_a_mongo_url_gets_tls_and_the_ca_file_as_pymongo_reads_them(ca_file: str) -> None:
    settings = CommonSettings.from_env(
        {"MONGO_URL": "mongodb://db:27017/?directConnection=true", "MONGO_CA_FILE": ca_file}
    )
    options = uri_parser.parse_uri(settings.mongo_url)["options"]
    assert options["tlsCAFile"] == ca_file
    assert options["tls"] is True
    assert options["directConnection"] is True
    assert mongo_url("mongodb://db:27017", ca_file).startswith("mongodb://db:27017/?tls=true")
    assert mongo_url("mongodb://db/?tls=true&tlsCAFile=/x.pem", ca_file).endswith("=/x.pem")


def test_a_missing_ca_file_is_refused_at_start_with_the_variable_named() -> None:
    with pytest.raises(SettingsError, match=r"RABBITMQ_CA_FILE='/nowhere/ca.pem' is not valid"):
        CommonSettings.from_env({"RABBITMQ_CA_FILE": "/nowhere/ca.pem"})
    with pytest.raises(SettingsError, match=r"MONGO_CA_FILE='/nowhere/ca.pem' is not valid"):
        CommonSettings.from_env({"MONGO_CA_FILE": "/nowhere/ca.pem"})
