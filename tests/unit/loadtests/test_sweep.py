"""The tuning sweep's pure parts: the sizing arithmetic the guide gives, and the plots and tables."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from loadtests.sweep import plots
from loadtests.sweep.plan import (
    BASE,
    MIXES,
    latency_points,
    partitions_for,
    sizing_table,
    throughput_points,
    workers_needed,
)
from streams.devtools.traffic import TrafficGenerator

PNG = b"\x89PNG\r\n\x1a\n"


def test_workers_are_sized_at_half_of_what_one_sustains() -> None:
    assert workers_needed(1_000, per_worker=2_000) == 1
    assert workers_needed(1_001, per_worker=2_000) == 2
    assert workers_needed(20_000, per_worker=2_000) == 20
    assert workers_needed(20_000, per_worker=2_000, headroom=1.0) == 10
    with pytest.raises(ValueError):
        workers_needed(1_000, per_worker=0)


def test_partitions_leave_room_to_double_the_workers() -> None:
    assert partitions_for(1) == 6
    assert partitions_for(3) == 6
    assert partitions_for(4) == 12
    assert all(partitions_for(w) >= 2 * w and partitions_for(w) % 6 == 0 for w in range(1, 200))


def test_the_sizing_table_grows_with_the_rate() -> None:
    rows = sizing_table(2_500, rates=(1_000, 5_000, 100_000))
    assert [row["workers"] for row in rows] == [1, 4, 80]
    assert [row["partitions"] for row in rows] == [6, 12, 162]


def test_every_point_names_a_mix_that_exists_and_the_base_comes_first() -> None:
    for quick in (True, False):
        points = throughput_points(quick)
        assert points[0].name == BASE and points[0].overrides == {}
        assert all(point.mix in MIXES for point in points + latency_points(quick))
        assert all(0 < point.load < 1 for point in latency_points(quick))


def test_the_mixes_make_the_payloads_they_are_named_for() -> None:
    single = list(TrafficGenerator(seed=1, mix=MIXES["single events"]).payloads(200))
    batches = list(TrafficGenerator(seed=1, mix=MIXES["batches"]).payloads(200))
    assert sum(b'"batch"' in p for p in single) == 0
    assert sum(b'"batch"' in p for p in batches) > 180  # a few are malformed on purpose


def _throughput(
    name: str, rate: float, cpu: float, python: float, size: int, exported: float
) -> dict[str, Any]:
    return {
        "name": name, "payloads_per_s": rate, "events_per_s": rate * 1.65, "cpu_us_per_payload": cpu,
        "cpu_us_per_event": cpu / 1.65, "python_us_per_payload": python, "librdkafka_us_per_payload": 30.0,
        "events_per_payload": 1.65, "payload_bytes_mean": size, "exported_share": exported,
        "records_per_payload": 3.1, "value_bytes_per_payload": 2400, "aborted_transactions": 0,
    }  # fmt: skip


def _latency(name: str, load: float, p50: float, p99: float, top: float) -> dict[str, Any]:
    return {
        "name": name, "load": load, "offered_per_s": 2400.0 * load, "p50_ms": p50, "p99_ms": p99,
        "max_ms": top, "measured": 9000, "payloads_per_batch": 10.0, "cpu_us_per_payload": 700.0,
    }  # fmt: skip


RESULTS: dict[str, Any] = {
    "command": "python -m loadtests.sweep",
    "commit": "abc1234",
    "machine": {"cpus": 2, "broker": "local, on the same cores"},
    "payloads_per_point": 20_000,
    "partitions": 4,
    "seconds": 600,
    "throughput": [
        _throughput(BASE, 2400.0, 330.0, 290.0, 740, 0.86),
        _throughput("single events", 4000.0, 200.0, 170.0, 510, 0.84),
    ],
    "latency": [
        _latency("exactly once, quarter", 0.25, 60.0, 130.0, 150.0),
        _latency("exactly once, half", 0.5, 120.0, 350.0, 420.0),
        _latency("at least once, half", 0.5, 80.0, 200.0, 250.0),
    ],
    "sizing": sizing_table(2400.0),
}


def test_the_plots_are_written_as_png_files(tmp_path: Path) -> None:
    written = plots.write_plots(copy.deepcopy(RESULTS), tmp_path)
    assert sorted(p.name for p in written) == ["cpu.png", "latency.png", "throughput.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG) and path.stat().st_size > 10_000


def test_the_results_tables_hold_every_point() -> None:
    text = plots.results_markdown(RESULTS)
    assert "| mixed, defaults | 2,400 | 3,960 | 330 | 290 / 30 | 740 | 86% | 3.10 |" in text
    assert "| at least once, half | 1,200 | 80 | 200 | 250 |" in text
    assert "| 20,000 | 17 | 36 |" in text


def test_a_point_keeps_its_median_run_and_lists_every_runs_rate() -> None:
    from loadtests.sweep.__main__ import _median_run

    runs = [
        {"payloads_per_s": rate, "cpu_us_per_payload": cpu}
        for rate, cpu in ((3000, 300), (2000, 400), (3500, 250))
    ]
    assert _median_run(runs) == {
        "payloads_per_s": 3000,
        "cpu_us_per_payload": 300,
        "runs_payloads_per_s": [3000, 2000, 3500],
    }
    assert _median_run(runs[:2])["payloads_per_s"] == 2000  # of two, the lower: no figure is flattered


def test_the_guides_tables_are_the_committed_sweeps() -> None:
    # docs/tuning.md's tables are rewritten by the sweep from its figures: a guide edited by hand,
    # or figures committed without their tables, fail here.
    import orjson

    docs = Path(__file__).resolve().parents[3] / "docs"
    guide = (docs / "tuning.md").read_text()
    results = orjson.loads((docs / "tuning" / "sweep.json").read_bytes())
    assert plots.fill_guide(guide, results) == guide
    for name in plots.guide_tables(results):
        assert f"<!-- sweep:{name} -->" in guide, name
    for image in ("throughput.png", "cpu.png", "latency.png"):
        assert f"(tuning/{image})" in guide and (docs / "tuning" / image).read_bytes().startswith(PNG)


def test_fill_guide_replaces_only_between_its_markers() -> None:
    text = "intro\n<!-- sweep:sizing -->\nold\n<!-- /sweep:sizing -->\nafter\n<!-- sweep:unknown -->x"
    filled = plots.fill_guide(text, RESULTS)
    assert filled.startswith("intro\n<!-- sweep:sizing -->\n| steady payloads/s |")
    assert "old" not in filled and filled.endswith("<!-- /sweep:sizing -->\nafter\n<!-- sweep:unknown -->x")
