"""`run` stops within kafka.stop_timeout_ms on SIGTERM, and a worker killed with -9 and restarted with
its id takes its partitions back without waiting out its dead self's session (static membership).

Both used to take as long as a group timeout: SIGTERM 50-89 s while faust's consumer rejoined a
group holding dead members, and 9-11 s from a restart to the first commit (issue 17). The
session timeout here is 30 s, so waiting it out can't pass for being fast.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.integration.gateway_process import WORKER_READY
from tests.integration.kafka_io import fresh_config, produce, wait_committed

pytestmark = pytest.mark.integration

SESSION_S = 30
STOP_S = 5
TRACK = b'{"type":"track","event":"x","anonymousId":"a","context":{"ip":"81.2.69.142"}}'


def _start(config_path: Path, log_path: Path, worker_id: str, port: int) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "run", "--config", str(config_path), "--dev-keys",
             "--worker-id", worker_id, "--web-port", str(port), "--log-format", "text"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def _wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 90) -> None:
    """Until /health says the engine routes events (its consumer assigned, its transactions set up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if orjson.loads(response.read())["status"] == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not ready within {timeout}s: {log_path.read_text(errors='replace')[-3000:]}")


def _config(kafka_bootstrap: str, tmp_path: Path) -> tuple[str, str, Path]:
    config, text = fresh_config(
        kafka_bootstrap, {"kafka": {"session_timeout_ms": SESSION_S * 1000, "stop_timeout_ms": STOP_S * 1000}}
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return config.topics.ingest[0], config.kafka.group_id, path


def _run_then_kill(
    config_path: Path,
    log_path: Path,
    port: int,
    ingest: str,
    group: str,
    bootstrap: str,
    *,
    faust_joined: bool,
) -> None:
    """Worker w1 until it has committed a batch (and, with `faust_joined`, faust's worker has joined
    its own group); then kill -9: no LeaveGroup from either consumer, its last transaction open."""
    worker = _start(config_path, log_path, "w1", port)
    try:
        _wait_ready(worker, port, log_path)
        produce(bootstrap, ingest, [TRACK] * 5)
        wait_committed(bootstrap, group, ingest, timeout=60)
        deadline = time.monotonic() + 60
        while faust_joined and WORKER_READY not in log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "faust's worker never said it was ready"
            time.sleep(0.2)
    finally:
        worker.kill()
        worker.wait(10)


def test_a_worker_killed_and_restarted_with_its_id_commits_long_before_its_session_would_expire(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    ingest, group, config_path = _config(kafka_bootstrap, tmp_path)
    log_path = tmp_path / "gateway.log"
    _run_then_kill(config_path, log_path, 6091, ingest, group, kafka_bootstrap, faust_joined=False)
    produce(kafka_bootstrap, ingest, [TRACK] * 5)
    restarted_at = time.monotonic()
    second = _start(config_path, log_path, "w1", 6091)
    try:
        wait_committed(kafka_bootstrap, group, ingest, timeout=SESSION_S + 60)
        elapsed = time.monotonic() - restarted_at
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(STOP_S + 30)
    # Process start (imports, topic checks, faust) included: well under the 30 s session timeout.
    print(f"restart to first commit: {elapsed:.1f}s")  # shown with -s: the figure docs cite
    assert elapsed < SESSION_S * 0.6, f"first commit {elapsed:.1f}s after the restart"


def test_sigterm_exits_0_within_the_stop_bound_while_the_group_holds_a_dead_member(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    ingest, group, config_path = _config(kafka_bootstrap, tmp_path)
    # Its faust consumer stays a member of <group>-worker until its session expires.
    _run_then_kill(
        config_path, tmp_path / "gateway.log", 6092, ingest, group, kafka_bootstrap, faust_joined=True
    )
    second_log = tmp_path / "second.log"
    second = _start(config_path, second_log, "w1", 6092)
    try:
        _wait_ready(second, 6092, second_log)
        produce(kafka_bootstrap, ingest, [TRACK] * 5)
        wait_committed(kafka_bootstrap, group, ingest, timeout=60)
    except BaseException:
        second.kill()
        raise
    asked = time.monotonic()
    second.send_signal(signal.SIGTERM)
    try:
        code = second.wait(STOP_S + 20)
    except subprocess.TimeoutExpired:
        second.kill()
        raise AssertionError(f"still running {STOP_S + 20}s after SIGTERM") from None
    took = time.monotonic() - asked
    print(f"SIGTERM to exit: {took:.1f}s")
    text = second_log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert took < STOP_S + 3, f"exited {took:.1f}s after SIGTERM"
    assert "gateway engine stopped: its last batch committed or aborted" in text
    assert "Traceback" not in text[text.index("gateway engine stopped") :]
