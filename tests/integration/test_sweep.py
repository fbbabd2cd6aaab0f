"""`python -m loadtests.sweep --quick` on the suite's broker: the command docs/tuning.md names runs,
checks every output it counts, and writes its figures, tables and plots."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from loadtests.sweep.__main__ import main

pytestmark = pytest.mark.integration


def test_the_quick_sweep_measures_every_point_and_writes_its_plots(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = kafka_bootstrap.rsplit(":", 1)[1]
    assert main(["--quick", "--port", port, "--out", str(tmp_path)]) == 0
    results = orjson.loads((tmp_path / "sweep.json").read_bytes())
    assert [p["name"] for p in results["throughput"]] == ["mixed, defaults", "single events", "at least once"]
    assert all(p["payloads_per_s"] > 0 and p["cpu_us_per_payload"] > 0 for p in results["throughput"])
    assert all(p["measured"] > 0 and p["p99_ms"] >= p["p50_ms"] > 0 for p in results["latency"])
    assert results["sizing"][0]["workers"] >= 1
    assert "| mixed, defaults |" in (tmp_path / "results.md").read_text()
    for name in ("throughput.png", "cpu.png", "latency.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
