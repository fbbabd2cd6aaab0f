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
