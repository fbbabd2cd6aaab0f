"""Copies keyed by their subject's pseudonym on the real broker: one subject's copies land in one
partition of the destination topic, in the order they came; the home topic keeps the ingest key."""

from __future__ import annotations

import uuid
from collections import defaultdict

import orjson
import pytest

from streams.keys.ring import development_keys
from streams.service.wiring import build_gateway
from tests.integration.kafka_io import fresh_config, in_thread, produce, read_all, wait_committed

pytestmark = pytest.mark.integration


def test_one_subjects_copies_land_in_one_partition_in_order(kafka_bootstrap: str) -> None:
    config, _ = fresh_config(kafka_bootstrap, {"kafka": {"partitions": 4}})
    subjects = [f"subject-{n}" for n in range(12)]
    # Ids that look generated travel as they are: zero-padded hex, so their order is their steps'.
    step_id = {
        (subject, step): str(uuid.UUID(int=(n << 16) + step))
        for n, subject in enumerate(subjects)
        for step in range(20)
    }
    events = [
        orjson.dumps(
            {
                "type": "track",
                "event": "Step",
                "messageId": step_id[(subject, step)],
                "userId": subject,
                "context": {"ip": "8.8.8.8"},
            }
        )
        for step in range(20)
        for subject in subjects
    ]
    produce(kafka_bootstrap, config.topics.ingest[0], list(events))
    gateway = build_gateway(
        config, kafka_bootstrap, development_keys(config.key_regions()), worker_id="w1", poll_timeout=0.05
    )
    try:
        with in_thread(gateway.engine):
            wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
    finally:
        gateway.close()
    copies = read_all(kafka_bootstrap, [config.destinations["global"].topic])[
        config.destinations["global"].topic
    ]
    assert len(copies) == len(events)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    steps: dict[bytes, list[str]] = defaultdict(list)
    for record in sorted(copies, key=lambda r: (r.partition, r.offset)):
        assert record.key is not None and record.key.startswith(b"pz:us:")  # a pseudonym, never the id
        partitions[record.key].add(record.partition)
        steps[record.key].append(orjson.loads(record.value or b"")["messageId"])
    assert len(partitions) == len(subjects)  # one key per subject
    assert all(len(held) == 1 for held in partitions.values())  # each subject in one partition
    assert len({p for held in partitions.values() for p in held}) > 1  # subjects spread over partitions
    for seen in steps.values():
        assert seen == sorted(seen) and len(seen) == 20  # in the order they came
