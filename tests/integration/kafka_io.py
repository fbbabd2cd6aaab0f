"""Small real-Kafka helpers for the integration tests: unique topics, produce, wait, read back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams.audit import audit_entries
from streams.config import GatewayConfig, parse_config
from streams.explain import predicted_topic_counts
from streams.kafka.engine import GatewayEngine
from streams.kafka.reading import read_to_end
from streams.kafka.topics import apply_topics
from streams.keys.ring import development_keys
from streams.pipeline import Pipeline

POLICY_TEMPLATE = """
policy_version: test-{run}
kafka: {{bootstrap_servers: "{bootstrap}", group_id: gw-{run}, batch_size: 500, partitions: 2}}
topics:
  ingest: [t{run}.ingest]
  quarantine: t{run}.quarantine
  dead_letter: t{run}.dead-letter
  audit: t{run}.audit
  erasure: t{run}.erasure
destinations:
  global: {{topic: t{run}.global, purpose: analytics}}
regions:
  eu: {{countries: [EU27, IS, LI, "NO", CH, GB], topic: t{run}.eu, transfers: {{global: pseudonymized}}}}
  us: {{countries: [US, PR, GU, VI, AS, MP], topic: t{run}.us, transfers: {{global: pseudonymized}}}}
  cn: {{countries: [CN], topic: t{run}.cn}}
  in: {{countries: [IN], topic: t{run}.in, transfers: {{global: pseudonymized}}}}
  ru: {{countries: [RU], topic: t{run}.ru}}
  row: {{countries: "*", topic: t{run}.row, transfers: {{global: pseudonymized}}}}
"""


def expected_topic_counts(config: GatewayConfig, payloads: list[bytes]) -> dict[str, int]:
    """What the pure pipeline predicts each output topic will hold for these payloads."""
    return dict(predicted_topic_counts(Pipeline(config, development_keys(config.key_regions())), payloads))


def topic_counts(config: GatewayConfig, out: Mapping[str, list[Record]]) -> dict[str, int]:
    """Records per topic, counted as `expected_topic_counts` predicts them: on the audit topic,
    the entries its records list (one per event), not the records (one per batch per partition)."""
    return {
        topic: len(audited(records)) if topic == config.topics.audit else len(records)
        for topic, records in out.items()
    }


def audited(records: list[Record]) -> list[dict[str, Any]]:
    """The entries of audit records, in the order read."""
    return [entry for record in records for entry in audit_entries(record.value or b"")]


def policy_text(run: str, bootstrap: str, changes: dict[str, Any] | None = None) -> str:
    """The integration tests' policy for one run (its topics and group named after `run`), with
    `changes` merged into it key by key: what a test needs different, and nothing pasted again."""
    document = yaml.safe_load(POLICY_TEMPLATE.format(run=run, bootstrap=bootstrap))
    _merge(document, changes or {})
    return str(yaml.safe_dump(document, sort_keys=False))


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def fresh_config(bootstrap: str, changes: dict[str, Any] | None = None) -> tuple[GatewayConfig, str]:
    """A config whose topics and group exist for this test only, and its YAML text."""
    text = policy_text(uuid.uuid4().hex[:10], bootstrap, changes)
    config = parse_config(text)
    apply_topics(config, bootstrap)
    return config, text


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def produce(bootstrap: str, topic: str, values: list[bytes | None]) -> list[tuple[int, int]]:
    """Produce in order to partition 0 and return each record's (partition, offset)."""
    coordinates: list[tuple[int, int]] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def delivered(error: object, message: object) -> None:
        assert error is None, error
        coordinates.append((message.partition(), message.offset()))  # type: ignore[attr-defined]

    for value in values:
        producer.produce(topic, value, partition=0, on_delivery=delivered)
    assert producer.flush(30) == 0
    return coordinates


# Answers a broker gives while the group coordinator is still being elected or loaded.
_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
}


def wait_committed(
    bootstrap: str, group: str, topic: str, timeout: float = 60.0, login: Mapping[str, Any] | None = None
) -> None:
    """Wait until `group` has committed every offset currently in `topic`; `login` for a secured broker."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **(login or {})})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
            except KafkaException as error:
                # A fresh broker answers NOT_COORDINATOR while it loads __consumer_offsets: ask again.
                if not (error.args[0].retriable() or error.args[0].code() in _COORDINATOR_MOVING):
                    raise
                time.sleep(0.2)
                continue
            if all(ends[tp.partition] == 0 or tp.offset >= ends[tp.partition] for tp in committed):
                return
            time.sleep(0.2)
        raise AssertionError(f"group {group} did not commit {topic} to {ends} within {timeout}s")
    finally:
        consumer.close()


def read_all(
    bootstrap: str, topics: list[str], login: Mapping[str, Any] | None = None, group_prefix: str = "reader-"
) -> dict[str, list[Record]]:
    """Every record now in `topics`, read as a downstream tool would (read_committed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group_prefix}{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            **(login or {}),
        }
    )
    records: dict[str, list[Record]] = {topic: [] for topic in topics}
    try:
        metadata = consumer.list_topics(timeout=10)
        ends = {}
        for topic in topics:
            for p in metadata.topics[topic].partitions:
                high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                if high > 0:
                    ends[(topic, p)] = high

        def keep(message: Message) -> None:
            topic, partition = message.topic(), message.partition()
            assert topic is not None and partition is not None
            records[topic].append(
                Record(topic, partition, message.offset() or 0, message.key(), message.value(),
                       {k: v for k, v in (message.headers() or [])})
            )  # fmt: skip

        ends = read_to_end(consumer, ends, on_record=keep, timeout=30)
        assert not ends, f"could not read to the end of {sorted(ends)}"
    finally:
        consumer.close()
    return records


@contextmanager
def in_thread(engine: GatewayEngine) -> Iterator[GatewayEngine]:
    """Run the engine in a thread for the block; stop it after, and fail if it failed."""
    stop = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            engine.run(stop)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield engine
    finally:
        stop.set()
        thread.join(30)
        # Raised even when the block failed: a dead engine is the cause worth reading, not its symptom.
        if failure:
            raise AssertionError(f"the engine failed: {failure[0]!r}") from failure[0]
