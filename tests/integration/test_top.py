"""`residency-gateway top` on a running gateway, and the consumer lag behind it, against the real broker."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.devtools.traffic import TrafficGenerator
from streams.kafka.lag import LagReader
from tests.integration.gateway_process import gateway_running
from tests.integration.kafka_io import expected_topic_counts, fresh_config, produce, wait_committed

pytestmark = pytest.mark.integration


def test_top_once_shows_what_was_sent_and_no_lag_once_committed(kafka_bootstrap: str, tmp_path: Path) -> None:
    config, text = fresh_config(kafka_bootstrap)
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(text)
    payloads = [*TrafficGenerator(seed=7).payloads(250), b"{not json", b"\xff\xfe"]
    expected = expected_topic_counts(config, payloads)
    port = "6090"
    with gateway_running(config_path, tmp_path / "gateway.log", "--web-port", port) as gateway:
        produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
        frame = _top_once(port)
        deadline = time.monotonic() + 10
        while _value(frame, "lag") != 0 and time.monotonic() < deadline:  # a reading is up to 2 s old
            frame = _top_once(port)
    assert gateway.code == 0, gateway.log_text[-3000:]

    assert _value(frame, "records in") == len(payloads), frame
    assert _value(frame, "lag") == 0, frame
    assert _value(frame, "key waits") == 0, frame
    assert _value(frame, "audit") == expected[config.topics.audit], frame
    assert _value(frame, "quarantined") == expected.get(config.topics.quarantine, 0), frame
    assert _value(frame, "dead-lettered") == expected.get(config.topics.dead_letter, 0), frame
    shown = _topic_rows(frame)
    regions = {region.topic: name for name, region in config.regions.items()}
    for topic, count in expected.items():
        if topic == config.topics.audit:
            continue
        label = regions.get(topic) or {
            config.topics.quarantine: "quarantine",
            config.topics.dead_letter: "dead-letter",
        }.get(topic, "copies")
        assert shown.pop(topic) == (label, count), frame
    # Every other topic the config can write is there too, from zero: it exists, nothing went to it.
    assert all(count == 0 for _label, count in shown.values()), f"top shows counts nothing wrote: {shown}"
    # Nothing arrived during the one interval --once measured over: every rate is 0.
    assert all(line.endswith("0.0/s") for line in frame.splitlines() if line.endswith("/s")), frame


def test_lag_counts_what_the_group_has_not_committed(kafka_bootstrap: str) -> None:
    topic, group = f"lag-{uuid.uuid4().hex[:10]}", f"lag-group-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result()
    produce(kafka_bootstrap, topic, [b"x"] * 12)
    reader = LagReader({"bootstrap.servers": kafka_bootstrap}, group, [topic], max_age=0)
    never = reader.reading()
    assert never is not None and [(p.committed, p.end, p.lag) for p in never.partitions] == [(None, 12, 12)]

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        consumer.close()
    reading = reader.reading()
    assert reading is not None and reading.total == 7
    assert [(p.topic, p.partition, p.committed, p.lag) for p in reading.partitions] == [(topic, 0, 5, 7)]


def _top_once(port: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "streams", "top", "--port", port, "--once", "--interval", "0.5"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def _value(frame: str, label: str) -> float:
    """The number on the frame's line for `label` (records in, lag, key waits, audit)."""
    for line in frame.splitlines():
        if line.startswith(f"{label} "):
            return float(line[len(label) :].split()[0])
    raise AssertionError(f"no {label!r} line in:\n{frame}")


def _topic_rows(frame: str) -> dict[str, tuple[str, float]]:
    """topic -> (what it holds, records) for the frame's topic table."""
    lines = frame.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("holds "))
    rows = {}
    for line in lines[start + 1 :]:
        fields = line.split()
        if fields[0] == "audit":
            break
        rows[fields[1]] = (fields[0], float(fields[2]))
    return rows
