"""The per-subject key store: wrapped data keys and erasures on one compacted Kafka topic per region.

Every worker restores the whole store before it processes anything, then tails
it, so a key or an erasure written by one worker reaches the others. Writes are
asynchronous on the gateway's own producer: the gateway flushes it before it
commits input offsets, so a key is durable before any committed output uses it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from streams.config import GatewayConfig
from streams.keys.ring import KeyRing, PseudonymKey
from streams.subjects.records import RecordKind, SubjectRecord, decode_record, encode_record, key_record
from streams.subjects.states import SubjectStates
from streams.subjects.tokens import SubjectKey, new_subject_key, subject_ref, wrap

log = logging.getLogger(__name__)

REF_CACHE_SIZE = 262_144  # subject → ref per region key; cleared when full (a ref costs ~5 µs)
# KeyRing.for_region checks key retirement against the clock (~2.5 µs); a retirement noticed
# up to this late is harmless, and the hot path saves most of its cost.
REGION_KEY_TTL = 1.0
REFRESH_MAX_BATCHES = 10


class SubjectStoreUnavailable(Exception):
    """The subject store couldn't be read or written; the gateway must not process without it."""


def subject_topic_config(
    *,
    max_compaction_lag_ms: int = 86_400_000,
    segment_ms: int = 3_600_000,
    delete_retention_ms: int = 86_400_000,
) -> dict[str, str]:
    """Topic settings for a subject-store topic; docs/erasure.md explains each one.

    A destroyed key stays on disk until the cleaner compacts the segment holding it:
    `max_compaction_lag_ms` bounds that (KIP-354), also rolling the active segment, which
    is never compacted. The topic creator adds its own replication settings.
    """
    return {
        "cleanup.policy": "compact",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": str(max_compaction_lag_ms),
        "segment.ms": str(segment_ms),
        "delete.retention.ms": str(delete_retention_ms),
        # The compaction lag is measured on record timestamps: the broker's clock, not a producer's.
        "message.timestamp.type": "LogAppendTime",
        "unclean.leader.election.enable": "false",
    }


class SubjectKeyStore:
    """Subject keys and erasures for every region in `topics` (region → compacted topic)."""

    def __init__(
        self,
        bootstrap: str,
        topics: Mapping[str, str],
        producer: Producer,
        *,
        group_prefix: str = "residency-gateway",
        security: Mapping[str, Any] | None = None,
        consumer_factory: Callable[[dict[str, Any]], Consumer] = Consumer,
    ) -> None:
        self._topics = dict(topics)
        self._regions = {topic: region for region, topic in self._topics.items()}
        self._producer = producer
        self._states = SubjectStates()
        self._refs: dict[tuple[str, int], dict[str, str]] = {}
        self._region_keys: dict[str, tuple[KeyRing, PseudonymKey, float]] = {}
        self._delivery_errors: list[KafkaError] = []
        self._restored = False
        self._partitions: list[tuple[str, int]] = []
        # No consumer group: every worker reads every partition, and nothing is ever committed.
        # The group still names this consumer to the broker: under ACLs, <group_id>-* is the gateway's.
        self._consumer = consumer_factory(
            {
                **(security or {}),
                "bootstrap.servers": bootstrap,
                "group.id": f"{group_prefix}-subjects-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
            }
        )

    @property
    def producer(self) -> Producer:
        """The producer the store writes through: the gateway's, flushed before it commits."""
        return self._producer

    # --- reading the store ---

    def restore(self, timeout: float) -> int:
        """Read every subject topic from the start to its current end; raises if that takes too long.

        Returns the number of records read. The consumer stays assigned, for `refresh`.
        """
        deadline = time.monotonic() + timeout
        ends = self._ends(deadline)
        self._consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in self._partitions])
        read = 0
        while ends:
            if time.monotonic() > deadline:
                raise SubjectStoreUnavailable(
                    f"subject store not restored within {timeout:.0f}s: {len(ends)} partitions behind"
                )
            messages = self._consumer.consume(10_000, 0.2)
            for message in messages:
                self._apply(message, fail=True)
            read += len(messages)
            positions = self._consumer.position([TopicPartition(t, p) for t, p in ends])
            for tp in positions:
                if tp.offset >= ends[(tp.topic, tp.partition)]:
                    del ends[(tp.topic, tp.partition)]
        self._restored = True
        self._destroy_orphans()
        return read

    def refresh(self) -> int:
        """Apply what other workers wrote since; never waits. Returns the number of records applied."""
        self._require_restored()
        applied = 0
        for _ in range(REFRESH_MAX_BATCHES):  # bounded, so a busy topic can't stall the hot path
            messages = self._consumer.consume(10_000, 0)
            if not messages:
                break
            for message in messages:
                self._apply(message, fail=False)
            applied += len(messages)
        self._destroy_orphans()
        self._producer.poll(0)
        return applied

    def _ends(self, deadline: float) -> dict[tuple[str, int], int]:
        """The high watermark of every non-empty partition, retrying while leaders move."""
        while True:
            try:
                return self._watermarks(max(deadline - time.monotonic(), 1.0))
            except KafkaException as exc:
                if time.monotonic() > deadline:
                    raise SubjectStoreUnavailable(f"subject store offsets: {exc.args[0].str()}") from None
                time.sleep(0.2)

    def _watermarks(self, timeout: float) -> dict[tuple[str, int], int]:
        metadata = self._consumer.list_topics(timeout=timeout).topics
        self._partitions = []
        ends = {}
        for topic in self._topics.values():
            described = metadata.get(topic)
            if described is None or not described.partitions:
                raise SubjectStoreUnavailable(f"subject topic {topic} does not exist or has no partitions")
            if described.error is not None:
                raise KafkaException(described.error)
            for partition in described.partitions:
                self._partitions.append((topic, partition))
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout
                )
                if high > low:
                    ends[(topic, partition)] = high
        return ends

    def _apply(self, message: Message, fail: bool) -> None:
        error = message.error()
        if error is not None:
            if fail or error.fatal():
                raise SubjectStoreUnavailable(f"reading the subject store: {error.str()}")
            log.warning("subject store: %s", error.str())
            return
        topic = message.topic()
        assert topic is not None
        self._states.apply(decode_record(self._regions[topic], message.key(), message.value()))

    def _destroy_orphans(self) -> None:
        for record in self._states.take_orphans():
            log.info("subject store: destroying key %s written after its subject's erasure", record.dek_id)
            self._write(record)

    # --- the gateway's questions ---

    def key_for(self, region: str, subject: str, keys: KeyRing) -> SubjectKey | None:
        """The subject's current key, created on first sight; None once the subject is erased.

        `subject` is normalized by the caller (streams.subjects.erasure.normalize_subject).
        """
        region_key = self._region_key(region, keys)
        ref = self._ref(region, region_key, subject)
        found = self._states.key_for(region, ref, keys)
        if found is not None:
            return found
        self._require_restored()
        if self._states.is_erased(region, ref):
            return None
        return self._create(region, ref, region_key)

    def is_erased(self, region: str, subject: str, keys: KeyRing) -> bool:
        region_key = self._region_key(region, keys)
        if self._states.is_erased(region, self._ref(region, region_key, subject)):
            return True
        # Erased before a rotation: the marker is under an older version still in its overlap window.
        return any(
            self._states.is_erased(region, self._ref(region, keys.version(region, v), subject))
            for v in keys.versions(region)
            if v != region_key.version
        )

    def lookup(self, keys: KeyRing) -> Callable[[str, str], SubjectKey | None]:
        """`lookup(region, dek_id)` for streams.subjects.tokens.detokenize: None once the key is destroyed."""

        def find(region: str, dek_id: str) -> SubjectKey | None:
            if region not in self._topics:
                return None
            return self._states.key_by_id(region, dek_id, keys)

        return find

    def _create(self, region: str, ref: str, region_key: PseudonymKey) -> SubjectKey:
        subject_key = new_subject_key(region_key)
        record = key_record(region, ref, wrap(region_key, subject_key), subject_key, int(time.time()))
        self._write(record)
        self._states.apply(record, unwrapped=subject_key)
        return subject_key

    def _region_key(self, region: str, keys: KeyRing) -> PseudonymKey:
        now = time.monotonic()
        cached = self._region_keys.get(region)
        if cached is not None and cached[0] is keys and now < cached[2]:
            return cached[1]
        region_key = keys.for_region(region)
        self._region_keys[region] = (keys, region_key, now + REGION_KEY_TTL)
        return region_key

    def _ref(self, region: str, region_key: PseudonymKey, subject: str) -> str:
        cache = self._refs.get((region, region_key.version))
        if cache is None:
            cache = self._refs[(region, region_key.version)] = {}
        ref = cache.get(subject)
        if ref is None:
            if len(cache) >= REF_CACHE_SIZE:
                cache.clear()
            ref = cache[subject] = subject_ref(region_key, subject)
        return ref

    def any_erased(self) -> bool:
        """Whether any subject was ever erased: until one is, events skip the erasure check."""
        return self._states.any_erased

    def flush(self, timeout: float) -> int:
        """Wait for every record written so far; what is still queued, or raise if one failed."""
        remaining: int = self._producer.flush(timeout)
        self.raise_for_delivery()
        return remaining

    # --- erasure ---

    def erase(self, subject: str, keys: KeyRing) -> list[str]:
        """Destroy the subject's keys in every region and mark it erased for ever.

        Returns the regions where the subject had keys or state, for the audit. The
        marker is written even where it had none, so a key is never made for it later.
        """
        self._require_restored()
        self.refresh()  # see keys other workers made, so they are destroyed now rather than as orphans
        # Every key version still in its overlap window: keys made before a rotation die too.
        regions_keys = {  # all or nothing
            region: [keys.version(region, v) for v in keys.versions(region)] for region in self._topics
        }
        erased_at = int(time.time())
        touched = []
        for region, region_keys in regions_keys.items():
            for region_key in region_keys:
                ref = self._ref(region, region_key, subject)
                if self._states.known(region, ref) and region not in touched:
                    touched.append(region)
                for dek_id in self._states.dek_ids(region, ref):
                    self._write_and_apply(SubjectRecord(RecordKind.DESTROYED, region, ref, dek_id))
                self._write_and_apply(SubjectRecord(RecordKind.ERASED, region, ref, at=erased_at))
        return touched

    def _write_and_apply(self, record: SubjectRecord) -> None:
        self._write(record)
        self._states.apply(record)

    # --- writing, and delivery ---

    def _write(self, record: SubjectRecord) -> None:
        key, value = encode_record(record)
        topic = self._topics[record.region]
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._delivered)
                return
            except BufferError:
                self._producer.poll(0.05)  # the local queue is full: let librdkafka make room

    def _delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self._delivery_errors.append(error)

    def raise_for_delivery(self) -> None:
        """Call after flushing the producer and before committing: a lost key record must stop the commit."""
        if self._delivery_errors:
            reasons = sorted({e.str() for e in self._delivery_errors})
            raise SubjectStoreUnavailable(f"subject store writes not acknowledged: {'; '.join(reasons)}")

    def _require_restored(self) -> None:
        if not self._restored:
            raise SubjectStoreUnavailable("the subject store is used before restore()")

    def close(self) -> None:
        self._consumer.close()


def subject_store_for(
    config: GatewayConfig,
    bootstrap: str,
    producer: Callable[[dict[str, Any]], Any],
    consumer: Callable[[dict[str, Any]], Any],
    client_settings: Mapping[str, Any] | None = None,
) -> SubjectKeyStore:
    """The store of every region's subject keys and erasures under `config`, as `run` (and `replay`)
    use it: its topics, the gateway's login, and clients made by the given factories."""
    from streams.kafka.clients import client_security, producer_settings

    kafka = config.kafka
    return SubjectKeyStore(
        bootstrap,
        {region: config.subject_keys_topic(region) for region in config.regions},
        producer({**producer_settings(kafka, bootstrap), **(client_settings or {})}),
        group_prefix=kafka.group_id,
        security=client_security(kafka.security),
        consumer_factory=consumer,
    )
