"""`residency-gateway run` logs one JSON object per line, and no personal data, on canary traffic."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.collectors.canaries import EMAIL, USER_ID, canary_payloads, leaked_forms
from tests.integration.gateway_process import gateway_running
from tests.integration.kafka_io import fresh_config, produce, wait_committed

pytestmark = pytest.mark.integration


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
    options = ("--web-port", "6089", "--log-level", "debug")
    with gateway_running(config_path, tmp_path / "gateway.log", *options) as gateway:
        produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
        gateway.wait_for_log("[^Worker]: Ready")
    log_text = gateway.log_text
    assert gateway.code == 0, log_text[-3000:]

    entries = []
    for number, line in enumerate(log_text.splitlines(), 1):
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from None
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    loggers = {entry["logger"] for entry in entries}
    # The gateway's own records and faust's and aiokafka's, all in the one format.
    assert {"streams.cli.run", "faust.worker"} <= loggers and any(n.startswith("aiokafka") for n in loggers)
    assert any(entry.get("regions") for entry in entries)  # a structured field, not only text
    lowered = log_text.lower()
    leaked = [form for form in leaked_forms() if form.lower() in lowered]
    assert not leaked, f"the log quotes canary personal data: {leaked}"
