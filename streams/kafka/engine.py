"""The hot path: consume a batch, run each record through the pipeline, produce, then commit.

Everything per event is synchronous Python over librdkafka's in-memory queues: no
await and no network round trip per event. The round trips are per batch.

Exactly once (the default, `kafka.delivery: exactly_once`): each batch is one Kafka
transaction. Its outputs, its audit records and its input offsets are committed
together (send_offsets_to_transaction), so a read_committed consumer sees every
batch's outputs exactly once or not at all, whatever the gateway or broker does.
A transaction that fails in a way Kafka lets us recover from is aborted, the
consumer rewinds to the batch's first offsets, and the batch runs again; a fatal
error (this producer fenced by a newer instance with the same transactional id)
stops the engine, and a supervisor restarts it from the committed offsets.

At least once (`kafka.delivery: at_least_once`, for outputs that can't share one
transaction): a flush proves every output was acknowledged before the input
offsets are committed; a crash between the two writes a batch twice, and each
output carries its event id for downstream deduplication.

A key that can't be had (KeyUnavailable) holds the batch: its transaction is
aborted (nothing of it becomes visible), nothing is committed, the consumer seeks
back to its first offsets, and the engine retries after a pause, so events wait in
Kafka rather than pass in the clear.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streams.audit import audit_records as records_of_audit
from streams.config import GatewayConfig
from streams.kafka.clients import CONFLUENT, KafkaClients
from streams.kafka.histogram import Histogram
from streams.kafka.retry import produce_queued, retry_while_passing
from streams.keys.ring import KeyRing, KeyUnavailable
from streams.outcomes import Outcome, OutcomeCounts, Output, Source
from streams.pipeline import Pipeline

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """Outputs of a batch were not acknowledged; its offsets stay uncommitted."""


@dataclass
class EngineStats:
    records_in: int = 0
    events_out: int = 0
    batches: int = 0
    outcomes: OutcomeCounts = field(default_factory=OutcomeCounts)
    last_commit_at: float = 0.0
    audit_records: int = 0  # records on the audit topic: one per batch per source partition, or more
    audited_events: int = 0  # the entries they list: one per input event and erasure request
    erasures: int = 0
    key_waits: int = 0  # batches aborted and read again later because a key was unavailable
    batches_closed_by_time: int = 0  # batches that closed at kafka.max_batch_ms, leaving records to the next
    keys_unavailable_since: float | None = None
    aborted_transactions: int = 0  # batches rolled back and run again (exactly-once mode)
    # Why events were held or rejected: (outcome, reason class), e.g. ("quarantined", "no-signal")
    # or ("dead-lettered", "decode"). Classes come from the code, never from event data.
    held_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    transformed_fields: Counter[str] = field(default_factory=Counter)  # by transform, over all copies
    batch_seconds: Histogram = field(default_factory=Histogram)  # consumed -> committed
    # At commit, the age of the batch's oldest record since it was written to the ingest topic:
    # an upper bound on the end-to-end latency of every event in the batch.
    oldest_event_seconds: Histogram = field(default_factory=Histogram)


class SubjectStore(Protocol):
    """The Kafka side of per-subject keys and erasure state (streams/kafka/subjects.py)."""

    def restore(self, timeout: float) -> int: ...
    def refresh(self) -> int: ...
    def flush(self, timeout: float) -> int: ...
    def erase(self, subject: str, keys: KeyRing) -> list[str]: ...


class GatewayEngine:
    def __init__(
        self,
        pipeline: Pipeline,
        consumer_settings: dict[str, Any],
        producer_settings: dict[str, Any],
        ingest_topics: list[str],
        batch_size: int,
        poll_timeout: float,
        commit_timeout: float = 60.0,
        *,
        subject_store: SubjectStore | None = None,
        keys: Callable[[], KeyRing] | None = None,
        key_wait_pause: float = 2.0,
        transactional: bool | None = None,
        remote_producers: Mapping[str, dict[str, Any]] | None = None,
        remote_topics: Mapping[str, str] | None = None,
        clients: KafkaClients = CONFLUENT,
        max_batch_seconds: float | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._clients = clients
        self._audit_topic = pipeline.config.topics.audit
        self._erasure_topic = pipeline.config.topics.erasure
        self._subject_store = subject_store
        # The current key ring (reloaded on rotation); erasure refs are computed under it.
        self._keys = keys
        self._key_wait_pause = key_wait_pause
        self._consumer_settings = consumer_settings
        self._producer_settings = producer_settings
        self._ingest_topics = ingest_topics
        self._batch_size = batch_size
        # None: a batch runs to its last record. Otherwise it closes once it has run this long.
        self._max_batch_seconds = max_batch_seconds
        self._seconds_per_record: float | None = None  # the recent batches' pace, smoothed
        # Records a batch closed by time didn't reach, for the next batch (a rebalance before it
        # runs sends them back to be read again).
        self._carried: list[Message] = []
        self._poll_timeout = poll_timeout
        self._commit_timeout = commit_timeout
        # Exactly once when the producer has a transactional id (streams/kafka/clients.py).
        self._transactional = (
            "transactional.id" in producer_settings if transactional is None else transactional
        )
        # Regions on clusters of their own: bootstrap → producer settings, and topic → bootstrap.
        # Their records can't join the main cluster's transaction (config refuses exactly_once then).
        self._remote_settings = dict(remote_producers or {})
        self._remote_topics = dict(remote_topics or {})
        if self._remote_topics and self._transactional:
            raise ValueError("regions on other clusters need at-least-once delivery (no transactions)")
        self._remotes: dict[str, Producer] = {}  # bootstrap → producer, while running
        self._routes: dict[str, tuple[Any, Producer]] = {}  # topic → (produce, producer) off the main one
        self._delivery_errors: list[KafkaError] = []
        self._assignment_epoch = 0  # bumped by every assign, revoke or loss of partitions
        self.stats = EngineStats()
        # When the current commit (or abort) began; None between them. The worker's watchdog
        # reads it: librdkafka can block in send_offsets_to_transaction past its timeout when
        # the group coordinator went away (librdkafka issues 5456 and 5511).
        self.committing_since: float | None = None
        # How long a commit may take before the watchdog restarts the worker: well past the
        # commit's own timeout (kafka.commit_timeout_ms), which librdkafka then failed to keep.
        self.stall_limit = 3 * commit_timeout
        # A new policy's pipeline, waiting for the batch boundary (streams/service/policy.py), and
        # what to call once it runs.
        self._next_pipeline: tuple[Pipeline, Callable[[], None]] | None = None
        self._pipeline_lock = threading.Lock()

    def run(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Process until `stop` is set; raises on a failure that must not be committed past."""
        consumer = self._clients.consumer(self._consumer_settings)
        producer = self._clients.producer({**self._producer_settings, "error_cb": _log_client_error})
        self._remotes = {
            bootstrap: self._clients.producer({**settings, "error_cb": _log_client_error})
            for bootstrap, settings in self._remote_settings.items()
        }
        self._routes = {
            topic: (self._remotes[bootstrap].produce, self._remotes[bootstrap])
            for topic, bootstrap in self._remote_topics.items()
        }
        try:
            if self._transactional:
                # Fences an earlier instance with the same transactional id and aborts whatever
                # transaction it left open (a kill -9), so read_committed readers don't wait for it.
                retry_while_passing(lambda: producer.init_transactions(self._commit_timeout))
            store = self._subject_store
            if store is not None:
                # Every subject's keys and erasure state before the first event: fail closed.
                store.restore(timeout=self._commit_timeout)
            topics = list(self._ingest_topics)
            if store is not None and self._keys is not None:
                topics.append(self._erasure_topic)
            changed = self._assignment_changed
            consumer.subscribe(topics, on_assign=changed, on_revoke=changed, on_lost=changed)
            _settle_garbage_collector()
            if on_ready is not None:
                on_ready()
            while not stop.is_set():
                self._switch_policy()  # between batches: each batch runs under one policy
                records = self._next_batch(consumer)
                if store is not None:
                    store.refresh()  # keys and erasures other workers wrote
                # A replaced geolocation file takes over here, between batches (a stat a minute).
                self._pipeline.refresh_geolocation()
                if records:
                    self._run_batch(records, consumer, producer, stop)
                else:
                    producer.poll(0)  # serve delivery callbacks while idle
        finally:
            # Whatever was produced but not committed is produced again on restart;
            # flushing here only saves that duplicate work (an open transaction is aborted
            # by the broker, or by the next instance's init_transactions).
            for remote in self._remotes.values():
                remote.flush(10)
            producer.flush(10)
            consumer.close()

    @property
    def config(self) -> GatewayConfig:
        """The policy the engine's pipeline runs under."""
        return self._pipeline.config

    @property
    def pipeline(self) -> Pipeline:
        return self._pipeline

    def propose(self, pipeline: Pipeline, on_switch: Callable[[], None]) -> None:
        """Run `pipeline` from the next batch on (a later proposal replaces one not yet taken)."""
        with self._pipeline_lock:
            self._next_pipeline = (pipeline, on_switch)

    def set_keys(self, keys: KeyRing) -> None:
        """A reloaded key ring (a rotation): for the running pipeline and one waiting to run."""
        with self._pipeline_lock:
            self._pipeline.set_keys(keys)
            if self._next_pipeline is not None:
                self._next_pipeline[0].set_keys(keys)

    def _switch_policy(self) -> None:
        if self._next_pipeline is None:
            return
        with self._pipeline_lock:
            proposed, self._next_pipeline = self._next_pipeline, None
        if proposed is None:
            return
        pipeline, on_switch = proposed
        before = self._pipeline.config.policy_version
        self._pipeline = pipeline
        log.info("policy %s (%s) runs from this batch on; it was %s", pipeline.config.policy_version,
                 pipeline.policy_hash, before)  # fmt: skip
        on_switch()

    def _next_batch(self, consumer: Consumer) -> list[Message]:
        """Up to batch_size records: whatever is fetched already, waiting only when there is nothing.

        Under load the batch is what arrived while the last one ran, so it grows with the
        backlog and the commit's cost is shared by more events; at a light load it is small
        and an event waits for one short batch, not for a full one to gather (a consume of
        batch_size records blocks until that many arrive or poll_timeout passes).
        """
        limit = self._batch_limit()
        carried, self._carried = self._carried, []
        if carried:
            # What the last batch didn't reach, already fetched, starts this one: nothing is fetched
            # twice. No consume ran since it was carried, so only this consume can serve a
            # rebalance; if it does, all of it goes back to be read again.
            epoch = self._assignment_epoch
            more = consumer.consume(limit - len(carried), 0) if len(carried) < limit else []
            if epoch != self._assignment_epoch:
                self._rewind([*carried, *more], consumer)
                return []
            return [*carried, *more]
        records = consumer.consume(limit, 0)
        if records:
            return records
        records = consumer.consume(1, self._poll_timeout)
        if not records or limit == 1:
            return records
        assignment = self._assignment_epoch
        records.extend(consumer.consume(limit - 1, 0))
        if self._assignment_epoch != assignment:
            # A rebalance was served between the two calls. librdkafka drops records a rebalance
            # made outdated only within one call, so the first record may be fetched again under
            # the new assignment and sit in the batch twice: put them all back and start over.
            self._rewind(records, consumer)
            return []
        return records

    def _batch_limit(self) -> int:
        """batch_size, or fewer: what the last batches' pace says fits in max_batch_ms.

        Taking only that many leaves little for a batch to read again when it closes by time.
        """
        budget, pace = self._max_batch_seconds, self._seconds_per_record
        if budget is None or pace is None or pace <= 0:
            return self._batch_size
        return min(self._batch_size, max(16, int(budget / pace)))  # batch_size stays the most

    def _assignment_changed(self, _consumer: Consumer, _partitions: list[TopicPartition]) -> None:
        self._assignment_epoch += 1

    def _run_batch(
        self, records: list[Message], consumer: Consumer, producer: Producer, stop: threading.Event
    ) -> None:
        if self._transactional:
            producer.begin_transaction()
        try:
            self._process_batch(records, consumer, producer)
        except KeyUnavailable as missing:
            self._abort(producer)
            self._wait_for_key(records, consumer, producer, missing, stop)
        except KafkaException as failed:
            error = failed.args[0]
            if not (self._transactional and isinstance(error, KafkaError) and error.txn_requires_abort()):
                raise
            # A broker restart, a rebalance that moved the group's generation, a timed-out
            # transaction: roll the batch back and run it again; nothing of it is visible.
            log.warning("transaction aborted, batch will run again: %s", error.str())
            self._abort(producer)
            self._rewind(records, consumer)
            self.stats.aborted_transactions += 1
            stop.wait(0.5)
        else:
            self.stats.keys_unavailable_since = None

    def _abort(self, producer: Producer) -> None:
        if self._transactional:
            self.committing_since = time.monotonic()
            retry_while_passing(
                lambda: producer.abort_transaction(self._commit_timeout), timeout=self._commit_timeout
            )
            self.committing_since = None
            # The abort purges what the batch had queued; serve those reports now, so the
            # next batch doesn't take "purged" for a failure of its own.
            producer.poll(0)
        self._delivery_errors.clear()

    def _process_batch(self, records: list[Message], consumer: Consumer, producer: Producer) -> None:
        process = self._pipeline.process
        produce = producer.produce
        # In a transaction a failed record fails commit_transaction, so no per-record report is
        # needed; outside one, the reports are how a failure is seen before offsets are committed.
        delivered = None if self._transactional else self._on_delivery
        started = time.time()
        outcomes: Counter[tuple[Outcome, str]] = Counter()
        held: Counter[tuple[str, str]] = Counter()
        transforms: Counter[str] = Counter()
        next_offsets: dict[tuple[str, int], int] = {}
        produced = 0
        erasures = 0
        audits: dict[tuple[str, int], list[dict[str, Any]]] = {}  # by source partition, in offset order
        audit_topic = self._audit_topic
        erasure_topic = self._erasure_topic
        budget = self._max_batch_seconds
        began = time.monotonic()
        closes_at = None if budget is None else began + budget
        leftover: list[Message] = []
        for position, record in enumerate(records):
            # The clock is read every 16 records: ~1 µs, against ~5 ms of work between readings.
            if closes_at is not None and position and not position % 16 and time.monotonic() > closes_at:
                leftover = records[position:]
                break
            error = record.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"consumer failed: {error.str()}")
                log.warning("consumer error: %s", error.str())
                continue
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            assert topic is not None and partition is not None and offset is not None  # set on records
            source = Source(topic, partition, offset)
            if topic == erasure_topic:
                results = [self._pipeline.erasure(record.value() or b"", source, self._erase_subject)]
            else:
                # A null value (tombstone) is an input too: it is dead-lettered like any other bad payload.
                results = process(record.value() or b"", source, record.key())
            audited = audits.get((topic, partition))
            if audited is None:
                audited = audits[(topic, partition)] = []
            for result in results:
                for out in result.outputs:
                    self._produce(produce, producer, out, delivered)
                    outcomes[(out.outcome, out.topic)] += 1
                    produced += 1
                if result.held_as is not None:
                    held[(result.outcome.value, result.held_as)] += 1
                elif result.outcome is Outcome.ERASED:
                    erasures += 1
                transforms.update(result.transforms)
                audited.append(result.audit)
            next_offsets[(topic, partition)] = offset + 1
        # The audit goes after the batch's outputs: one record per source partition, listing each
        # event's entry (streams/audit.py), in the same transaction.
        audit_records = audited_events = 0
        for (topic, partition), entries in audits.items():
            audited_events += len(entries)
            for key, value in records_of_audit(topic, partition, entries, self._pipeline.policy_hash):
                produce_queued(producer, audit_topic, value, key, on_delivery=delivered)
                audit_records += 1
        working = time.monotonic() - began  # the batch's own work, before its commit
        self._commit(consumer, producer, next_offsets)
        if leftover:
            # The next batch starts with them (uncommitted: after a crash they are read again).
            self._carried = leftover
        done = records[: len(records) - len(leftover)]
        # Counted once committed, so an aborted and retried batch is counted once.
        stats = self.stats
        stats.records_in += len(done)
        stats.batches_closed_by_time += 1 if leftover else 0
        stats.events_out += produced
        stats.audit_records += audit_records
        stats.audited_events += audited_events
        stats.batches += 1
        stats.erasures += erasures
        stats.outcomes.by_topic.update(outcomes)
        stats.held_reasons.update(held)
        stats.transformed_fields.update(transforms)
        now = time.time()
        stats.batch_seconds.observe(now - started)
        if done:
            # The pace of the work alone: a commit costs the same for a batch of any size, and
            # counting it per record would shrink each next batch, so commits would cost more.
            pace = working / len(done)
            last = self._seconds_per_record
            self._seconds_per_record = pace if last is None else 0.8 * last + 0.2 * pace
        oldest = min((r.timestamp()[1] for r in done if r.timestamp()[1] > 0), default=None)
        if oldest is not None:
            stats.oldest_event_seconds.observe(max(0.0, now - oldest / 1000))

    def _produce(self, produce: Any, producer: Producer, out: Output, delivered: Any) -> None:
        if self._routes:
            produce, producer = self._routes.get(out.topic, (produce, producer))
        while True:
            try:
                produce(out.topic, out.value, out.key, headers=out.headers, on_delivery=delivered)
                return
            except BufferError:
                # The local queue is full: let librdkafka send and make room, then retry.
                producer.poll(0.05)

    def _erase_subject(self, subject: str) -> list[str]:
        """Destroy an erased subject's keys in the subject store; the regions that held some."""
        store, keys = self._subject_store, self._keys
        assert store is not None and keys is not None  # the erasure topic is read only with both
        return store.erase(subject, keys())

    def _wait_for_key(
        self,
        records: list[Message],
        consumer: Consumer,
        producer: Producer,
        missing: KeyUnavailable,
        stop: threading.Event,
    ) -> None:
        """A key is missing: commit nothing, rewind to the batch's first offsets, and pause."""
        self._rewind(records, consumer)
        stats = self.stats
        stats.key_waits += 1
        if stats.keys_unavailable_since is None:
            stats.keys_unavailable_since = time.time()
        # The message names regions and versions, never key material.
        log.error("waiting for a key, not committing: %s (key waits: %d)", missing, stats.key_waits)
        producer.poll(0)
        stop.wait(self._key_wait_pause)

    @staticmethod
    def _rewind(records: list[Message], consumer: Consumer) -> None:
        """Seek every partition of the batch back to its first record, to consume it again."""
        first: dict[tuple[str, int], int] = {}
        for record in records:
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            if topic is not None and partition is not None and offset is not None and record.error() is None:
                first.setdefault((topic, partition), offset)
        for (topic, partition), offset in first.items():
            try:
                consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as error:
                # The partition was revoked meanwhile; its new owner starts from the committed offset.
                log.info("not rewinding %s[%d]: %s", topic, partition, error.args[0])

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        # A purge is our own abort at work (those records belong to a rolled-back batch).
        if error is not None and error.code() not in _PURGED:
            self._delivery_errors.append(error)

    def _commit(
        self, consumer: Consumer, producer: Producer, next_offsets: dict[tuple[str, int], int]
    ) -> None:
        self.committing_since = time.monotonic()
        try:
            self._commit_outputs(consumer, producer, next_offsets)
        finally:
            self.committing_since = None
        self.stats.last_commit_at = time.time()

    def _commit_outputs(
        self, consumer: Consumer, producer: Producer, next_offsets: dict[tuple[str, int], int]
    ) -> None:
        timeout = self._commit_timeout
        offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
        # Subject keys made in this batch are durable before any token made with them is committed.
        if self._subject_store is not None and self._subject_store.flush(self._commit_timeout):
            raise DeliveryFailed("subject keys not acknowledged; not committing")
        if self._transactional:
            if offsets:
                metadata = consumer.consumer_group_metadata()
                retry_while_passing(
                    lambda: producer.send_offsets_to_transaction(offsets, metadata, timeout), timeout
                )
            # Flushes the batch's outputs and commits them with the offsets, atomically.
            retry_while_passing(lambda: producer.commit_transaction(timeout), timeout)
            self._raise_for_delivery(0)
        else:
            # Regional clusters first: their records are acknowledged before any offset is committed.
            remaining = sum(remote.flush(timeout) for remote in self._remotes.values())
            self._raise_for_delivery(remaining + producer.flush(timeout))
            if offsets:
                retry_while_passing(lambda: consumer.commit(offsets=offsets, asynchronous=False), timeout)

    def _raise_for_delivery(self, remaining: int) -> None:
        if remaining or self._delivery_errors:
            reasons = sorted({e.str() for e in self._delivery_errors}) or [f"{remaining} still queued"]
            self._delivery_errors.clear()
            raise DeliveryFailed(f"outputs not acknowledged ({'; '.join(reasons)}); not committing")


_PURGED = {KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT}


_gc_settled = False


def _settle_garbage_collector() -> None:
    """Fewer, cheaper cyclic collections on the hot path.

    Each event allocates dozens of short-lived dicts and lists, so with CPython's default
    threshold (a collection every 700 net allocations) collections run many times a batch,
    and each older-generation one walks every long-lived object: the policy, the
    geolocation tables, the caches. Freezing what exists once the engine is set up takes
    those out of every later walk, and a higher threshold runs the young collection every
    20,000 allocations. Per-event objects hold no cycles; reference counting frees them.
    Measured with first_look's engine on 30,000 payloads, three pairs: 4,089-4,666 → 5,197-5,332
    payloads/s, 208-242 → 182-206 µs of CPU per payload (docs/performance.md).
    """
    global _gc_settled
    if _gc_settled:  # once a process: tests and benchmarks run many engines in one
        return
    _gc_settled = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _log_client_error(error: KafkaError) -> None:
    log.warning("kafka client error: %s", error.str())
