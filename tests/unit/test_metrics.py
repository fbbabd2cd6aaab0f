"""The Prometheus collector renders the engine's counters, with config-derived labels only."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.engine import EngineStats
from streams.metrics import engine_registry, render
from streams.outcomes import Outcome


def _samples(stats: EngineStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(engine_registry(stats, {"events.eu": "eu", "events.us": "us"})).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counts_by_topic_region_and_outcome() -> None:
    stats = EngineStats(records_in=7, audit_records=9, erasures=1, held_batches=0)
    stats.outcomes.add(Outcome.ROUTED, "events.eu", 5)
    stats.outcomes.add(Outcome.EXPORTED, "events.global", 4)
    stats.outcomes.add(Outcome.QUARANTINED, "events.quarantine", 2)
    samples = _samples(stats)
    assert samples[("residency_gateway_events_in_total", ())] == 7
    out = "residency_gateway_events_out_total"
    assert samples[(out, (("outcome", "routed"), ("region", "eu"), ("topic", "events.eu")))] == 5
    assert samples[(out, (("outcome", "exported"), ("region", ""), ("topic", "events.global")))] == 4
    assert samples[(out, (("outcome", "quarantined"), ("region", ""), ("topic", "events.quarantine")))] == 2
    assert samples[("residency_gateway_audit_records_total", ())] == 9
    assert samples[("residency_gateway_erasures_total", ())] == 1
    assert samples[("residency_gateway_keys_unavailable", ())] == 0


def test_a_key_hold_shows_as_a_gauge_and_its_duration() -> None:
    stats = EngineStats(held_batches=3, keys_unavailable_since=time.time() - 30)
    samples = _samples(stats)
    assert samples[("residency_gateway_held_batches_total", ())] == 3
    assert samples[("residency_gateway_keys_unavailable", ())] == 1
    assert 29 <= samples[("residency_gateway_keys_unavailable_seconds", ())] < 60
