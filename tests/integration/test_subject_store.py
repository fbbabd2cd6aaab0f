"""The subject key store against the real local broker: keys and erasures survive restarts and reach peers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.kafka.subjects import SubjectKeyStore, SubjectStoreUnavailable, subject_topic_config
from streams.keys.ring import KeyRing, PseudonymKey
from streams.subjects.erasure import normalize_subject
from streams.subjects.tokens import TokenUnreadable, detokenize, subject_ref, token

pytestmark = pytest.mark.integration

KEYS = KeyRing([PseudonymKey("eu", 1, bytes(range(32))), PseudonymKey("us", 1, bytes(range(32, 64)))])
SUBJECT = normalize_subject(" Canary.Subject.4711@Example.com ")


def create_topics(bootstrap: str, config: dict[str, str] | None = None) -> dict[str, str]:
    """A compacted subject topic per region, for this test only, ready to serve."""
    run = uuid.uuid4().hex[:10]
    topics = {"eu": f"t{run}.subjects.eu", "us": f"t{run}.subjects.us"}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(t, 3, 1, config=config or subject_topic_config()) for t in topics.values()]
    for future in admin.create_topics(new, request_timeout=30).values():
        future.result()
    wait_until_served(bootstrap, list(topics.values()))
    return topics


def wait_until_served(bootstrap: str, topics: list[str], timeout: float = 30.0) -> None:
    """Metadata names a leader a moment before it serves: ask every partition for its offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                metadata = consumer.list_topics(timeout=10).topics
                for topic in topics:
                    assert metadata[topic].partitions, topic
                    for partition in metadata[topic].partitions:
                        consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
                return
            except (KafkaException, KeyError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        consumer.close()


@dataclass
class Raw:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_raw(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Raw]:
    """Every record now in `topic`, tombstones included, in (partition, offset) order."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        records: list[Raw] = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(500, 0.5):
                assert message.error() is None, message.error()
                partition, offset = message.partition(), message.offset()
                assert partition is not None and offset is not None
                records.append(Raw(partition, offset, message.key(), message.value()))
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
        assert not ends, f"could not read {topic} to its end"
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


@contextmanager
def worker_store(bootstrap: str, topics: dict[str, str]) -> Iterator[SubjectKeyStore]:
    """A store as one gateway worker holds it: restored before use, its producer flushed at the end."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    store = SubjectKeyStore(bootstrap, topics, producer)
    try:
        store.restore(timeout=30)
        yield store
        assert producer.flush(30) == 0
        store.raise_for_delivery()
    finally:
        store.close()


def flush(*stores: SubjectKeyStore) -> None:
    """What the gateway does before committing its input offsets."""
    for store in stores:
        assert store.producer.flush(10) == 0
        store.raise_for_delivery()


def refresh_until(store: SubjectKeyStore, done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        store.refresh()
        if done():
            return
        time.sleep(0.1)
    raise AssertionError("the other worker's write did not arrive")


def test_a_subject_key_survives_a_restart_and_its_tokens_stay_readable(kafka_bootstrap: str) -> None:
    topics = create_topics(kafka_bootstrap)
    with worker_store(kafka_bootstrap, topics) as store:
        before = store.key_for("eu", SUBJECT, KEYS)
        assert before is not None
        assert store.key_for("eu", SUBJECT, KEYS) == before
        made = token(SUBJECT, before, "eu")

    with worker_store(kafka_bootstrap, topics) as restarted:
        assert restarted.key_for("eu", SUBJECT, KEYS) == before
        assert detokenize(made, restarted.lookup(KEYS)) == SUBJECT
        assert not restarted.is_erased("eu", SUBJECT, KEYS)


def test_an_erasure_survives_a_restart_and_makes_old_tokens_unreadable(kafka_bootstrap: str) -> None:
    topics = create_topics(kafka_bootstrap)
    with worker_store(kafka_bootstrap, topics) as store:
        subject_key = store.key_for("eu", SUBJECT, KEYS)
        assert subject_key is not None
        made = token("order-history-of-the-subject", subject_key, "eu")
        assert store.erase(SUBJECT, KEYS) == ["eu"]  # the subject never had state in us
        assert store.key_for("eu", SUBJECT, KEYS) is None
        with pytest.raises(TokenUnreadable):
            detokenize(made, store.lookup(KEYS))

    with worker_store(kafka_bootstrap, topics) as restarted:
        assert restarted.is_erased("eu", SUBJECT, KEYS)
        assert restarted.is_erased("us", SUBJECT, KEYS)  # marked everywhere, so no key is made later
        assert restarted.key_for("eu", SUBJECT, KEYS) is None
        assert restarted.key_for("us", SUBJECT, KEYS) is None
        with pytest.raises(TokenUnreadable) as caught:
            detokenize(made, restarted.lookup(KEYS))
        assert "order-history" not in str(caught.value)
        # Other subjects are untouched.
        assert restarted.key_for("eu", "user-42", KEYS) is not None


def test_a_key_and_an_erasure_by_one_worker_reach_another_on_refresh(kafka_bootstrap: str) -> None:
    topics = create_topics(kafka_bootstrap)
    with worker_store(kafka_bootstrap, topics) as first, worker_store(kafka_bootstrap, topics) as second:
        made_by_first = first.key_for("eu", SUBJECT, KEYS)
        assert made_by_first is not None
        flush(first)
        refresh_until(second, lambda: second.lookup(KEYS)("eu", made_by_first.dek_id) is not None)
        assert second.key_for("eu", SUBJECT, KEYS) == made_by_first  # one key per subject: joins agree

        made = token(SUBJECT, made_by_first, "eu")
        first.erase(SUBJECT, KEYS)
        flush(first)
        refresh_until(second, lambda: second.is_erased("eu", SUBJECT, KEYS))
        assert second.key_for("eu", SUBJECT, KEYS) is None
        with pytest.raises(TokenUnreadable):
            detokenize(made, second.lookup(KEYS))


def test_a_key_made_by_a_worker_that_missed_the_erasure_is_destroyed(kafka_bootstrap: str) -> None:
    topics = create_topics(kafka_bootstrap)
    with worker_store(kafka_bootstrap, topics) as eraser, worker_store(kafka_bootstrap, topics) as late:
        eraser.erase(SUBJECT, KEYS)
        late_key = late.key_for("eu", SUBJECT, KEYS)  # this worker hasn't read the erasure yet
        assert late_key is not None
        flush(eraser, late)
        refresh_until(late, lambda: late.is_erased("eu", SUBJECT, KEYS))
        assert late.lookup(KEYS)("eu", late_key.dek_id) is None
        refresh_until(eraser, lambda: eraser.refresh() == 0)

    ref = subject_ref(KEYS.for_region("eu"), SUBJECT)
    records = read_raw(kafka_bootstrap, topics["eu"])
    late_values = [r.value for r in records if r.key == f"{ref}/{late_key.dek_id}".encode()]
    assert late_values[0] is not None and late_values[-1] is None, "the late key gets a tombstone"


def test_the_topic_keeps_the_erasure_marker_and_tombstones_every_key(kafka_bootstrap: str) -> None:
    topics = create_topics(kafka_bootstrap)
    with worker_store(kafka_bootstrap, topics) as store:
        eu_key = store.key_for("eu", SUBJECT, KEYS)
        us_key = store.key_for("us", SUBJECT, KEYS)
        assert eu_key is not None and us_key is not None
        assert sorted(store.erase(SUBJECT, KEYS)) == ["eu", "us"]

    for region, subject_key in (("eu", eu_key), ("us", us_key)):
        ref = subject_ref(KEYS.for_region(region), SUBJECT)
        records = read_raw(kafka_bootstrap, topics[region])
        by_key: dict[bytes | None, list[bytes | None]] = {}
        for record in records:
            by_key.setdefault(record.key, []).append(record.value)
        dek_key = f"{ref}/{subject_key.dek_id}".encode()
        assert set(by_key) == {dek_key, ref.encode()}
        written, destroyed = by_key[dek_key]
        assert written is not None and orjson.loads(written)["version"] == 1
        assert destroyed is None  # a tombstone: compaction removes the wrapped key
        (marker,) = by_key[ref.encode()]
        assert marker is not None and orjson.loads(marker)["v"] == 1 and orjson.loads(marker)["erased"] > 0
        assert not any(SUBJECT.encode() in (r.key or b"") + (r.value or b"") for r in records)


@pytest.mark.timeout(120)
def test_compaction_removes_a_destroyed_key_and_keeps_the_marker(kafka_bootstrap: str) -> None:
    config = {
        **subject_topic_config(max_compaction_lag_ms=100, segment_ms=100, delete_retention_ms=100),
        "min.cleanable.dirty.ratio": "0.01",
    }
    topics = create_topics(kafka_bootstrap, config)
    with worker_store(kafka_bootstrap, topics) as store:
        subject_key = store.key_for("eu", SUBJECT, KEYS)
        assert subject_key is not None
        store.erase(SUBJECT, KEYS)
    ref = subject_ref(KEYS.for_region("eu"), SUBJECT).encode()
    dek_key = ref + b"/" + subject_key.dek_id.encode()
    filler = Producer({"bootstrap.servers": kafka_bootstrap})
    deadline = time.monotonic() + 100
    while True:
        # The active segment is never cleaned; an append after segment.ms rolls it, in each partition.
        for partition in range(3):
            filler.produce(topics["eu"], b'{"v":1,"erased":1}', b"1.filler", partition=partition)
        filler.flush(10)
        records = read_raw(kafka_bootstrap, topics["eu"])
        if not any(r.key == dek_key and r.value is not None for r in records):
            break
        assert time.monotonic() < deadline, "the log cleaner never removed the destroyed key"
        time.sleep(2)
    assert any(r.key == ref and r.value is not None for r in records), "the erasure marker is kept"
    with worker_store(kafka_bootstrap, topics) as restarted:
        assert restarted.is_erased("eu", SUBJECT, KEYS)


def test_restore_fails_closed_when_a_subject_topic_is_missing(kafka_bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    store = SubjectKeyStore(kafka_bootstrap, {"eu": f"t{uuid.uuid4().hex[:10]}.missing"}, producer)
    try:
        with pytest.raises(SubjectStoreUnavailable):
            store.restore(timeout=10)
        with pytest.raises(SubjectStoreUnavailable):
            store.key_for("eu", SUBJECT, KEYS)
    finally:
        store.close()
