"""The short fault run (issue 5) as CI runs it: every scenario against a real broker of its own."""

from __future__ import annotations

import subprocess
import sys

import orjson

SCENARIOS = {"kill9", "broker-restart", "rebalance", "keys-unreachable", "poison-pills"}


def test_every_fault_scenario_loses_duplicates_and_leaks_nothing() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.faults", "--short"],
        capture_output=True,
        timeout=1200,
        check=False,
    )
    out = run.stdout.decode()
    assert run.returncode == 0, out[-4000:] + run.stderr.decode(errors="replace")[-4000:]
    summary = orjson.loads(out.strip().splitlines()[-1])["scenarios"]
    assert set(summary) == SCENARIOS
    for name, figures in summary.items():
        assert figures["sent"] == 1500 and figures["delivered"] == 1500, (name, figures)
        assert figures["lost"] == figures["duplicated"] == figures["leaked"] == 0, (name, figures)
