"""`shadow` on the real broker: a candidate's differences on live ingest traffic, reported exactly,
with nothing written to any topic."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest
import yaml

from streams.config import parse_config
from streams.kafka.topics import apply_topics
from tests.integration.kafka_io import policy_text, produce, read_all

pytestmark = pytest.mark.integration

UUIDS = [str(uuid.UUID(int=i + 1)) for i in range(9)]  # generated-looking ids: reported as they are


def test_shadow_reports_the_candidates_differences_and_writes_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    document = yaml.safe_load(policy_text(uuid.uuid4().hex[:10], kafka_bootstrap))
    document["kafka"]["partitions"] = 1
    del document["regions"]["row"]
    document["regions"]["eu"]["countries"] = ["EU27"]
    active_text = yaml.safe_dump(document, sort_keys=False)
    # The candidate: CH joins eu; us stops sending copies abroad; and global keeps context.locale.
    document["policy_version"] += "-candidate"
    document["regions"]["eu"]["countries"] = ["EU27", "CH"]
    document["regions"]["us"]["transfers"] = {}
    candidate_text = yaml.safe_dump(document, sort_keys=False)
    active = parse_config(active_text)
    apply_topics(active, kafka_bootstrap)
    (tmp_path / "active.yaml").write_text(active_text)
    (tmp_path / "candidate.yaml").write_text(candidate_text)

    def event(message_id: str, ip: str | None) -> bytes:
        return orjson.dumps(
            {
                "type": "track",
                "event": "Viewed",
                "messageId": message_id,
                "userId": "u",
                **({"context": {"ip": ip}} if ip else {}),
            }
        )

    swiss, american, spanish, silent = UUIDS[0:3], UUIDS[3:5], UUIDS[5:8], UUIDS[8]
    payloads = [
        *(event(i, "178.197.224.1") for i in swiss),
        *(event(i, "8.8.8.8") for i in american),
        *(event(i, "85.195.1.1") for i in spanish),
        event(silent, None),
    ]
    produce(kafka_bootstrap, active.topics.ingest[0], payloads)
    outputs = [t for t in active.all_topics() if t not in active.topics.ingest]
    before = {t: len(r) for t, r in read_all(kafka_bootstrap, outputs).items()}

    report_path = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams",
            "shadow",
            "--config",
            str(tmp_path / "active.yaml"),
            "--candidate",
            str(tmp_path / "candidate.yaml"),
            "--from-beginning",
            "--stop-at-end",
            "--report",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report = orjson.loads(report_path.read_bytes())
    assert (report["payloads"], report["events"], report["changed"]) == (9, 9, 5)
    assert report["moves"] == {"quarantine -> eu": {"events": 3, "examples": swiss}}
    assert report["newly_released"] == {"eu": {"events": 3, "examples": swiss}}
    assert report["newly_quarantined"] == {}
    assert report["copies_disappear"] == {
        active.destinations["global"].topic: {"events": 2, "examples": american}
    }
    global_topic = active.destinations["global"].topic
    assert report["copies_appear"] == {global_topic: {"events": 3, "examples": swiss}}
    # The Swiss events' new copies carry these fields; the Spanish ones' copies didn't change.
    assert set(report["newly_exported_fields"][global_topic]) == {
        "type",
        "event",
        "messageId",
        "userId",
        "context.ip",
    }
    assert "85.195" not in report_path.read_text() and "178.197" not in report_path.read_text()  # no values
    assert "report: " in done.stdout and "newly released to" in done.stderr
    # Nothing was written to any output topic.
    assert {t: len(r) for t, r in read_all(kafka_bootstrap, outputs).items()} == before
