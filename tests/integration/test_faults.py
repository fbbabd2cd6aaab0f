"""The short fault run (issue 5) as CI runs it: every scenario against a real broker of its own."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.faults]

SCENARIOS = {"kill9", "broker-restart", "rebalance", "keys-unreachable", "poison-pills"}


# Five scenarios of ~15 s traffic each, plus gateway and broker restarts: 3-6 minutes here, and up
# to ~90 s more when librdkafka hangs after the broker restart and the watchdog restarts the worker.
RUN_LIMIT_S = 1200


@pytest.mark.timeout(RUN_LIMIT_S + 180)
def test_every_fault_scenario_loses_duplicates_and_leaks_nothing() -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "loadtests.faults", "--short"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = run.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired as slow:
        # SIGTERM, not SIGKILL: the run then stops its gateways and its broker on the way out.
        run.terminate()
        stdout, stderr = run.communicate(timeout=120)
        tail = stderr.decode(errors="replace")[-4000:]
        raise AssertionError(f"the fault run took over {RUN_LIMIT_S}s: {tail}") from slow
    out = stdout.decode()
    assert run.returncode == 0, out[-4000:] + stderr.decode(errors="replace")[-4000:]
    summary = orjson.loads(out.strip().splitlines()[-1])["scenarios"]
    assert set(summary) == SCENARIOS
    for name, figures in summary.items():
        assert figures["sent"] == 1500 and figures["delivered"] == 1500, (name, figures)
        assert figures["lost"] == figures["duplicated"] == figures["leaked"] == 0, (name, figures)
