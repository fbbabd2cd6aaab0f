"""`residency-gateway run` logs one JSON object per line, and no personal data, on canary traffic."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from tests.collectors.canaries import EMAIL, USER_ID, canary_payloads, leaked_forms
from tests.integration.kafka_io import fresh_config, produce, wait_committed


def test_run_logs_json_lines_that_never_quote_a_canary(kafka_bootstrap: str, tmp_path: Path) -> None:
    config, text = fresh_config(kafka_bootstrap)
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(text)
    # Every collector format carrying the canary person, and poison pills quoting it (dead letters).
    payloads = [payload for _, payload in canary_payloads()]
    payloads += [
        f'{{"type":"track","userId":"{USER_ID}","properties":{{"email":"{EMAIL}"'.encode(),
        f"{EMAIL} is not an event".encode(),
        b'{"type":"identify","userId":"' + USER_ID.encode() + b'","traits":{"email":"\xff\xfe"}}',
    ]
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "streams", "run", "--config", str(config_path), "--dev-keys",
             "--web-port", "6089", "--log-level", "debug"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
        _wait_for(log_path, "[^Worker]: Ready")
    finally:
        gateway.send_signal(signal.SIGTERM)
        code = gateway.wait(60)
    log_text = log_path.read_text(errors="replace")
    assert code == 0, log_text[-3000:]

    entries = []
    for number, line in enumerate(log_text.splitlines(), 1):
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from None
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    # The gateway's own records and faust's and aiokafka's, all in the one format.
    assert {"streams.cli", "faust.worker"} <= loggers and any(n.startswith("aiokafka") for n in loggers)
    assert any(entry.get("regions") for entry in entries)  # a structured field, not only text
    lowered = log_text.lower()
    leaked = [form for form in leaked_forms() if form.lower() in lowered]
    assert not leaked, f"the log quotes canary personal data: {leaked}"


def _wait_for(log_path: Path, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.2)
