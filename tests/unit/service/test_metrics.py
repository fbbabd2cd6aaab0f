"""The Prometheus collector renders the engine's counters, with config-derived labels only."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from streams.kafka.engine import EngineStats
from streams.outcomes import Outcome
from streams.service.metrics import engine_registry, render


def _samples(stats: EngineStats) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(engine_registry(stats, {"events.eu": "eu", "events.us": "us"})).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counts_by_topic_region_and_outcome() -> None:
    stats = EngineStats(records_in=7, audit_records=2, audited_events=9, erasures=1, key_waits=0)
    stats.outcomes.by_topic[(Outcome.ROUTED, "events.eu")] += 5
    stats.outcomes.by_topic[(Outcome.EXPORTED, "events.global")] += 4
    stats.outcomes.by_topic[(Outcome.QUARANTINED, "events.quarantine")] += 2
    samples = _samples(stats)
    assert samples[("residency_gateway_records_in_total", ())] == 7
    out = "residency_gateway_events_out_total"
    assert samples[(out, (("outcome", "routed"), ("region", "eu"), ("topic", "events.eu")))] == 5
    assert samples[(out, (("outcome", "exported"), ("region", ""), ("topic", "events.global")))] == 4
    assert samples[(out, (("outcome", "quarantined"), ("region", ""), ("topic", "events.quarantine")))] == 2
    assert samples[("residency_gateway_audit_records_total", ())] == 2
    assert samples[("residency_gateway_audited_events_total", ())] == 9
    assert samples[("residency_gateway_erasures_total", ())] == 1
    assert samples[("residency_gateway_keys_unavailable", ())] == 0


def test_a_key_hold_shows_as_a_gauge_and_the_moment_it_began() -> None:
    began = time.time() - 30
    stats = EngineStats(key_waits=3, keys_unavailable_since=began)
    samples = _samples(stats)
    assert samples[("residency_gateway_key_waits_total", ())] == 3
    assert samples[("residency_gateway_aborted_transactions_total", ())] == 0
    assert samples[("residency_gateway_keys_unavailable", ())] == 1
    assert samples[("residency_gateway_keys_unavailable_since_timestamp_seconds", ())] == began  # not an age
    assert _samples(EngineStats())[("residency_gateway_keys_unavailable_since_timestamp_seconds", ())] == 0


def test_held_reasons_transformed_fields_and_latency_histograms_render() -> None:
    stats = EngineStats()
    stats.held_reasons.update({("quarantined", "no-signal"): 3, ("dead-lettered", "decode"): 2})
    stats.transformed_fields.update({"pseudonymize": 7, "generalize": 4})
    for seconds in (0.003, 0.2, 0.2, 12.0):
        stats.batch_seconds.observe(seconds)
    samples = _samples(stats)
    held = "residency_gateway_held_events_total"
    assert samples[(held, (("outcome", "quarantined"), ("reason", "no-signal")))] == 3
    assert samples[(held, (("outcome", "dead-lettered"), ("reason", "decode")))] == 2
    assert samples[("residency_gateway_transformed_fields_total", (("transform", "pseudonymize"),))] == 7
    batch = "residency_gateway_batch_seconds"
    assert samples[(f"{batch}_bucket", (("le", "0.005"),))] == 1
    assert samples[(f"{batch}_bucket", (("le", "0.25"),))] == 3
    assert samples[(f"{batch}_bucket", (("le", "+Inf"),))] == 4
    assert samples[(f"{batch}_count", ())] == 4
    assert abs(samples[(f"{batch}_sum", ())] - 12.403) < 1e-9


def test_the_geolocation_datas_day_is_a_timestamp_gauge() -> None:
    from datetime import date

    registry = engine_registry(EngineStats(), {}, geolocation_built=date(2024, 6, 18))
    text = render(registry).decode()
    assert "residency_gateway_geolocation_data_built_timestamp_seconds 1.7186688e+09" in text
    assert "geolocation" not in render(engine_registry(EngineStats(), {})).decode()  # only when known


def test_every_series_the_config_can_produce_is_there_from_zero() -> None:
    from streams.config import load_config
    from streams.service.metrics import QUARANTINE_REASONS, TRANSFORMS, outputs_of

    config = load_config(None)
    text = render(engine_registry(EngineStats(), {}, config=config)).decode()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    out = {labels for name, labels in samples if name == "residency_gateway_events_out_total"}
    assert {(dict(labels)["outcome"], dict(labels)["topic"]) for labels in out} == {
        (outcome.value, topic) for outcome, topic in outputs_of(config)
    }
    assert len(out) == len(config.regions) + len(config.destinations) + 2  # + quarantine, dead letters
    for reason in QUARANTINE_REASONS:
        assert (
            samples[("residency_gateway_held_events_total", (("outcome", "quarantined"), ("reason", reason)))]
            == 0
        )
    for transform in TRANSFORMS:
        assert samples[("residency_gateway_transformed_fields_total", (("transform", transform),))] == 0
    policy = (("policy_hash", config.policy_hash()), ("policy_version", config.policy_version))
    assert samples[("residency_gateway_policy_info", policy)] == 1


def test_build_info_names_the_version_and_the_process_collectors_are_opt_in() -> None:
    from streams import __version__

    plain = render(engine_registry(EngineStats(), {})).decode()
    assert f'residency_gateway_build_info{{version="{__version__}"}} 1.0' in plain
    assert "process_cpu_seconds_total" not in plain and "policy_info" not in plain
    full = render(engine_registry(EngineStats(), {}, process=True)).decode()
    assert "process_cpu_seconds_total" in full and "python_gc_objects_collected_total" in full
