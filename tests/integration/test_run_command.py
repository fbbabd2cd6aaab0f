"""`residency-gateway run` as an operator starts it: the faust worker hosting the engine."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.devtools.traffic import TrafficGenerator
from tests.integration.gateway_process import gateway_running
from tests.integration.kafka_io import (
    expected_topic_counts,
    fresh_config,
    produce,
    read_all,
    topic_counts,
    wait_committed,
)

pytestmark = pytest.mark.integration


def test_run_routes_traffic_serves_health_and_stops_cleanly(kafka_bootstrap: str, tmp_path: Path) -> None:
    config, text = fresh_config(kafka_bootstrap)
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(text)
    payloads = list(TrafficGenerator(seed=5).payloads(300))
    expected = expected_topic_counts(config, payloads)

    log_path = tmp_path / "gateway.log"
    with gateway_running(config_path, log_path, "--web-port", "6088") as gateway:
        produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
        health = _get_json("http://127.0.0.1:6088/health")
        assert health["status"] == "ok" and health["records_in"] == len(payloads)
        metrics = _scrape("http://127.0.0.1:6088/metrics")
    log_text = gateway.log_text
    assert gateway.code == 0, log_text[-3000:]
    assert "ephemeral development keys" in log_text
    out = read_all(kafka_bootstrap, [t for t in config.all_topics() if t not in config.topics.ingest])
    assert {t: n for t, n in topic_counts(config, out).items() if n} == expected
    # What /metrics said during the run matches what the topics hold.
    assert _total(metrics, "residency_gateway_records_in_total") == len(payloads)
    assert _total(metrics, "residency_gateway_audited_events_total") == expected[config.topics.audit]
    assert _total(metrics, "residency_gateway_audit_records_total") == len(out[config.topics.audit])
    assert _total(metrics, "residency_gateway_keys_unavailable") == 0
    per_topic = {
        labels["topic"]: count
        for name, labels, count in metrics
        if name == "residency_gateway_events_out_total"
    }
    # Every topic the config can write has its series, from zero (Prometheus's convention).
    assert {t for t, n in per_topic.items() if n} == {t for t in expected if t != config.topics.audit}
    assert per_topic == {t: expected.get(t, 0) for t in per_topic}
    assert {o.topic for o in config.regions.values()} <= set(per_topic)
    info = [
        labels for name, labels, count in metrics if name == "residency_gateway_policy_info" and count == 1
    ]
    assert info == [{"policy_version": config.policy_version, "policy_hash": config.policy_hash()}]
    assert _total(metrics, "process_cpu_seconds_total") > 0  # the process collector is there
    held = expected.get(config.topics.quarantine, 0) + expected.get(config.topics.dead_letter, 0)
    assert _total(metrics, "residency_gateway_held_events_total") == held
    assert _total(metrics, "residency_gateway_transformed_fields_total") > 0
    assert _total(metrics, "residency_gateway_batch_seconds_count") >= 1


Sample = tuple[str, dict[str, str], float]


def _total(metrics: list[Sample], name: str) -> float:
    return sum(count for sample, _labels, count in metrics if sample == name)


def _scrape(url: str) -> list[Sample]:
    """Every sample of a Prometheus scrape: (name, labels, value)."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _get_json(url: str, attempts: int = 50) -> dict[str, object]:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                return orjson.loads(response.read())  # type: ignore[no-any-return]
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")
