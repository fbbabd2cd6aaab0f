"""The benchmark's arithmetic: rates from progress samples, percentiles, ratios, targets and the table."""

from __future__ import annotations

import math

import pytest

from loadtests.bench.contenders import samples
from loadtests.bench.figures import (
    done_at,
    group_rate,
    percentile,
    ratio,
    steady_rate,
    table,
    targets_met,
)
from streams.devtools.traffic import TrafficGenerator, TrafficMix


def test_steady_rate_runs_from_first_progress_to_first_sample_at_the_final_count() -> None:
    samples = [(100.0, 0, 1.0), (101.0, 1000, 2.0), (103.0, 5000, 4.0), (104.0, 5000, 4.5)]
    rate = steady_rate(samples)
    assert rate.records == 4000
    assert rate.seconds == pytest.approx(2.0)
    assert rate.per_second == pytest.approx(2000.0)
    assert rate.cpu_us_per_record == pytest.approx(2.0 / 4000 * 1e6)


def test_steady_rate_refuses_a_run_too_short_to_measure() -> None:
    with pytest.raises(ValueError):
        steady_rate([(100.0, 0, 1.0), (101.0, 500, 1.5)])


def test_group_rate_spans_every_worker_and_keeps_an_uneven_split_in_the_figure() -> None:
    first = [(10.0, 0, 0.0), (11.0, 100, 1.0), (13.0, 300, 3.0)]
    second = [(10.0, 0, 0.0), (12.0, 100, 1.0), (15.0, 400, 4.0)]
    rate = group_rate([first, second])
    # From 11 (the first progress) to 15 (the last final count): first did 200, second 400.
    assert rate.seconds == pytest.approx(4.0)
    assert rate.records == 600
    assert rate.cpu_seconds == pytest.approx(2.0 + 4.0)


def test_done_at_is_the_last_sample_at_or_before_the_time() -> None:
    samples = [(1.0, 10, 0.0), (2.0, 20, 0.0)]
    assert [done_at(samples, t) for t in (0.5, 1.0, 1.5, 9.0)] == [0, 10, 10, 20]


@pytest.mark.parametrize(("fraction", "expected"), [(0.5, 50.0), (0.99, 99.0), (1.0, 100.0), (0.01, 1.0)])
def test_percentile_is_nearest_rank(fraction: float, expected: float) -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, fraction) == expected


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_ratio_of_a_zero_denominator_is_nan_not_a_crash() -> None:
    assert ratio(3.0, 4.0) == 0.75
    assert math.isnan(ratio(1.0, 0.0))


def test_targets_are_the_issues() -> None:
    summary = {
        "gateway_cpu_us_per_event": 70.0,
        "cpu_ratio_vs_passthrough": 8.1,
        "ratio_vs_naive": 6.0,
        "p99_ms": 250.0,
        "scale_factor_2_workers": 1.3,
    }
    assert targets_met(summary) == {
        "gateway_cpu_us_per_event": True,
        "cpu_ratio_vs_passthrough": False,
        "ratio_vs_naive": True,
        "p99_ms": False,
        "scale_factor_2_workers": True,
    }


def test_steady_rate_splits_the_cpu_by_thread_when_samples_carry_it() -> None:
    samples = [(0.0, 0, 0.0, 0.0, 0.0), (1.0, 10, 1.0, 0.6, 0.3), (3.0, 30, 3.0, 1.6, 1.1)]
    rate = steady_rate(samples)
    assert (rate.worker_thread_seconds, rate.librdkafka_seconds) == (1.0, 0.8)
    assert rate.us_per_record(rate.worker_thread_seconds) == 50_000.0
    assert math.isnan(steady_rate([(1.0, 10, 1.0), (3.0, 30, 3.0)]).librdkafka_seconds)


def test_a_nan_figure_meets_no_target() -> None:
    assert targets_met({"ratio_vs_naive": math.nan}) == {"ratio_vs_naive": False}


def test_table_aligns_columns_under_a_header() -> None:
    text = table([("b/a", "0.034", ">= 0.70 (NOT met)"), ("input", "12,000 payloads", "")])
    lines = text.splitlines()
    assert lines[0].split() == ["what", "figure", "target"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].index("0.034") == lines[3].index("12,000") == lines[0].index("figure")


def test_free_text_pii_is_off_by_default_and_leaves_a_seeds_traffic_as_it_was() -> None:
    default = list(TrafficGenerator(seed=3).payloads(300))
    assert list(TrafficGenerator(seed=3, mix=TrafficMix(free_text_pii=0.0)).payloads(300)) == default
    assert not any(b"Call me back" in p or b"%40" in p for p in default)


def test_free_text_pii_share_puts_personal_data_in_free_text() -> None:
    payloads = list(TrafficGenerator(seed=3, mix=TrafficMix(free_text_pii=0.5)).payloads(300))
    marked = [p for p in payloads if b"Call me back" in p or b"Order for" in p or b"Request from" in p]
    assert len(marked) > 60


def test_a_reports_samples_are_read_with_or_without_the_cpu_split_by_thread() -> None:
    report = {"samples": [[1.0, 10, 0.5], [2.0, 20, 1.0, 0.6, 0.3]]}
    assert samples(report) == [(1.0, 10.0, 0.5), (2.0, 20.0, 1.0, 0.6, 0.3)]


def test_overrides_merge_for_a_block_and_are_undone_after() -> None:
    import os

    from loadtests.bench import topology

    topology.set_overrides({"kafka": {"batch_size": 500}})
    try:
        with topology.overrides({"transfers": False}):
            config = topology.gateway_config("p", "p.ingest", 2)
            assert config.kafka.batch_size == 500  # kept from before the block
            assert all(region.transfers == {} for region in config.regions.values())
        config = topology.gateway_config("p", "p.ingest", 2)
        assert config.kafka.batch_size == 500 and config.regions["eu"].transfers
    finally:
        topology.set_overrides(None)
    assert topology.OVERRIDES_VARIABLE not in os.environ
