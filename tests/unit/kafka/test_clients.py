"""Client settings: what the gateway asks of librdkafka, by delivery mode."""

from __future__ import annotations

from streams.config import load_config
from streams.kafka.clients import producer_settings, transactional_id

KAFKA = load_config(None).kafka


def test_a_transactional_producer_retries_a_busy_coordinator_after_20_ms_not_100() -> None:
    settings = producer_settings(KAFKA, "b:9092", transactional_id(KAFKA, "w1"))
    assert settings["retry.backoff.ms"] == 20
    # librdkafka refuses a record delivery timeout longer than its transaction's.
    assert settings["message.timeout.ms"] == settings["transaction.timeout.ms"]


def test_an_at_least_once_producer_keeps_librdkafkas_retry_backoff() -> None:
    settings = producer_settings(KAFKA, "b:9092")
    assert "retry.backoff.ms" not in settings and "transactional.id" not in settings
    assert settings["enable.idempotence"] is True and settings["acks"] == "all"


CLIENT_SETTINGS = """
policy_version: x
kafka:
  client_settings:
    consumer: {fetch.max.bytes: 1000000}
    producer: {batch.size: 100000, ssl.endpoint.identification.algorithm: none}
    admin: {socket.timeout.ms: 30000}
regions:
  eu: {countries: [EU27], topic: t.eu}
  row: {countries: "*", topic: t.row}
"""


def test_client_settings_reach_each_role_and_librdkafka_knows_them() -> None:
    from streams.config import parse_config
    from streams.kafka.clients import consumer_settings, unknown_client_settings

    kafka = parse_config(CLIENT_SETTINGS).kafka
    assert consumer_settings(kafka, "b:9092")["fetch.max.bytes"] == 1_000_000
    settings = producer_settings(kafka, "b:9092", transactional_id(kafka, "w1"))
    assert settings["batch.size"] == 100_000 and settings["ssl.endpoint.identification.algorithm"] == "none"
    assert "socket.timeout.ms" not in settings  # the admin's, not the producer's
    assert unknown_client_settings(kafka) == []


def test_a_property_librdkafka_refuses_is_named_with_its_path() -> None:
    from streams.config import parse_config
    from streams.kafka.clients import unknown_client_settings

    text = CLIENT_SETTINGS.replace("{fetch.max.bytes: 1000000}", "{fetch.max.bytes: 1000000, fetch.bogus: 1}")
    text = text.replace("{socket.timeout.ms: 30000}", "{socket.timeout.ms: nope}")
    problems = unknown_client_settings(parse_config(text).kafka)
    assert problems == [
        'kafka.client_settings.consumer.fetch.bogus: No such configuration property: "fetch.bogus"',
        "kafka.client_settings.admin.socket.timeout.ms: "
        'Invalid value for configuration property "socket.timeout.ms"',
    ]


def test_the_properties_the_gateway_owns_cant_be_overridden() -> None:
    import pytest

    from streams.config import ConfigError, parse_config

    text = CLIENT_SETTINGS.replace("{batch.size: 100000,", "{enable.idempotence: false, transactional.id: x,")
    text = text.replace("{fetch.max.bytes: 1000000}", "{isolation.level: read_uncommitted}")
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    refused = sorted(problem.split(":")[0] for problem in raised.value.problems)
    assert refused == [
        "kafka.client_settings.consumer.isolation.level",
        "kafka.client_settings.producer.enable.idempotence",
        "kafka.client_settings.producer.transactional.id",
    ]
    assert all("the gateway sets this itself" in problem for problem in raised.value.problems)
