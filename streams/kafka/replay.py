"""`residency-gateway replay`: release held records that the current policy can now decide, exactly once.

It reads the quarantine or the dead-letter topic from its start (or from `since`) to its end as
it was when the replay began, and runs each held record through the pipeline
(streams/replay.py). Each batch's releases, their audit records and a ledger entry per released
held record are written in one Kafka transaction. The ledger (`<group_id>-replay-released`, a
compacted topic `topics apply` makes) is read first, so a record released by any earlier replay,
under any policy version, is skipped: a replay killed mid-batch leaves an aborted transaction and
no ledger entry, and the next replay releases that batch once. No consumer offsets are kept:
every replay looks at every held record again, and what is still undecidable is not written
anywhere. One replay runs at a time per group: a second one's transactional id fences the first.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from streams.audit import audit_records
from streams.config import GatewayConfig
from streams.kafka.clients import (
    CONFLUENT,
    KafkaClients,
    consumer_settings,
    producer_settings,
)
from streams.kafka.reading import read_to_end
from streams.kafka.retry import produce_queued, retry_while_passing
from streams.kafka.subjects import subject_store_for
from streams.kafka.topics import replay_ledger_topic
from streams.keys.ring import KeyRing
from streams.pipeline import Pipeline
from streams.replay import HeldRecord, held_record, release

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 5.0


def held_topic(config: GatewayConfig, held_from: str) -> str:
    return config.topics.quarantine if held_from == "quarantine" else config.topics.dead_letter


class ReplayError(Exception):
    """Replay can't start or go on (a missing topic, another cluster's region); the message says why."""


@dataclass
class ReplayReport:
    topic: str
    examined: int = 0  # held records read in the range
    released_records: int = 0  # held records released by this replay
    released: Counter[str] = field(default_factory=Counter)  # released events per region
    still_held: Counter[str] = field(default_factory=Counter)  # held records per reason class
    already_released: int = 0  # released by an earlier replay (the ledger): skipped
    left_alone: Counter[str] = field(default_factory=Counter)  # not replayable, and why
    seconds: float = 0.0

    def add(self, batch: ReplayReport) -> None:
        """A committed batch's counts: counted once committed, so a batch that ran again counts once."""
        self.examined += batch.examined
        self.released_records += batch.released_records
        self.released.update(batch.released)
        self.still_held.update(batch.still_held)
        self.already_released += batch.already_released
        self.left_alone.update(batch.left_alone)


def replay(
    config: GatewayConfig,
    bootstrap: str,
    keys: KeyRing,
    held_from: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    batch_size: int = 500,
    progress: Callable[[ReplayReport, int], None] | None = None,
    client_settings: Mapping[str, Any] | None = None,
    clients: KafkaClients = CONFLUENT,
    commit_timeout: float | None = None,
) -> ReplayReport:
    """Replay the held records of `held_from` ("quarantine" or "dead-letter") published before the
    replay began (and from `since_ms`, up to `until_ms`, record timestamps in ms)."""
    if config.remote_region_topics(bootstrap):
        raise ReplayError(
            "replay writes every release in one transaction on the main cluster; regions on clusters "
            "of their own (regions.*.bootstrap_servers) aren't supported yet"
        )
    kafka = config.kafka
    extra = dict(client_settings or {})
    timeout = commit_timeout if commit_timeout is not None else kafka.commit_timeout_ms / 1000
    topic, ledger = held_topic(config, held_from), replay_ledger_topic(config)
    report = ReplayReport(topic)
    started = time.monotonic()
    reader = clients.consumer(
        {
            **consumer_settings(kafka, bootstrap),
            "group.id": f"{kafka.group_id}-replay",  # assigned, never subscribed: no offsets are committed
            "enable.partition.eof": True,
            **extra,
        }
    )
    try:
        ranges = _ranges(reader, topic, ledger, since_ms, timeout)
        released = _released(reader, ledger, timeout)
        subjects = subject_store_for(config, bootstrap, clients.producer, clients.consumer, extra)
        try:
            subjects.restore(timeout=timeout)  # erasures hold for released events too
            pipeline = Pipeline(config, keys, subjects=subjects)
            producer = clients.producer(
                {**producer_settings(kafka, bootstrap, f"{kafka.group_id}-replay"), **extra}
            )
            retry_while_passing(lambda: producer.init_transactions(timeout))
            _Replay(pipeline, reader, producer, ledger, released, report, timeout).run(
                ranges, until_ms, batch_size, progress
            )
            producer.flush(timeout)
        finally:
            subjects.close()
    finally:
        reader.close()
    report.seconds = time.monotonic() - started
    return report


def _ranges(
    reader: Consumer, topic: str, ledger: str, since_ms: int | None, timeout: float
) -> dict[int, tuple[int, int]]:
    """Partition → (first offset, end offset) of the held topic to read, the end fixed now."""
    listed = reader.list_topics(timeout=timeout).topics
    for name in (topic, ledger):
        if name not in listed or listed[name].error is not None:
            raise ReplayError(f"topic {name} is missing; create it with `residency-gateway topics apply`")
    ranges = {}
    for partition in sorted(listed[topic].partitions):
        low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        start = low
        if since_ms is not None:
            (found,) = reader.offsets_for_times([TopicPartition(topic, partition, since_ms)], timeout=timeout)
            start = high if found.offset < 0 else max(low, found.offset)
        if start < high:
            ranges[partition] = (start, high)
    return ranges


def _released(reader: Consumer, ledger: str, timeout: float) -> set[bytes]:
    """Every held record an earlier replay released: the ledger's keys, read to its end."""
    partitions = reader.list_topics(ledger, timeout=timeout).topics[ledger].partitions
    starts, ends = {}, {}
    for partition in partitions:
        starts[(ledger, partition)], ends[(ledger, partition)] = reader.get_watermark_offsets(
            TopicPartition(ledger, partition), timeout=timeout
        )
    released: set[bytes] = set()

    def keep(message: Any) -> None:
        key = message.key()
        if key is not None:
            released.add(key)

    if read_to_end(reader, ends, starts, keep, timeout=max(timeout, 60.0)):
        raise ReplayError(f"reading the ledger {ledger} did not finish in time")
    reader.unassign()
    return released


class _Replay:
    def __init__(
        self,
        pipeline: Pipeline,
        reader: Consumer,
        producer: Producer,
        ledger: str,
        released: set[bytes],
        report: ReplayReport,
        timeout: float,
    ) -> None:
        self._pipeline = pipeline
        self._reader = reader
        self._producer = producer
        self._ledger = ledger
        self._released = released
        self._report = report
        self._timeout = timeout
        self._ingest = set(pipeline.config.topics.ingest)
        self._audit_topic = pipeline.config.topics.audit

    def run(
        self,
        ranges: dict[int, tuple[int, int]],
        until_ms: int | None,
        batch_size: int,
        progress: Callable[[ReplayReport, int], None] | None,
    ) -> None:
        topic = self._report.topic
        total = sum(end - start for start, end in ranges.values())
        open_ranges = dict(ranges)
        self._reader.assign([TopicPartition(topic, p, start) for p, (start, _end) in ranges.items()])
        next_note = time.monotonic() + PROGRESS_SECONDS
        while open_ranges:
            batch: list[Any] = []
            for message in self._reader.consume(batch_size, 1.0):
                partition = message.partition()
                if partition not in open_ranges:
                    continue  # finished (its end, or --until): what follows isn't this replay's
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        del open_ranges[partition]
                        continue
                    raise KafkaException(error)
                offset = message.offset() or 0  # set on every record
                end = open_ranges[partition][1]
                timestamp = message.timestamp()[1]
                if offset >= end or (until_ms is not None and timestamp > until_ms):
                    del open_ranges[partition]
                    continue
                batch.append(message)
                if offset + 1 >= end:
                    del open_ranges[partition]
            if batch:
                self._write_batch(batch)
            if progress is not None and time.monotonic() >= next_note:
                progress(self._report, total)
                next_note = time.monotonic() + PROGRESS_SECONDS

    def _write_batch(self, batch: list[Any]) -> None:
        """One transaction: the batch's releases, their audit records and their ledger entries.

        An aborted transaction (a broker restart, a timeout) runs the batch again from the records
        in hand: nothing of the aborted one is visible, its ledger entries included."""
        while True:
            self._producer.begin_transaction()
            try:
                counts, released = self._release_all(batch)
                self._producer.commit_transaction(self._timeout)
            except KafkaException as failed:
                error = failed.args[0]
                if not (isinstance(error, KafkaError) and error.txn_requires_abort()):
                    raise
                log.warning("replay transaction aborted, the batch runs again: %s", error.str())
                retry_while_passing(lambda: self._producer.abort_transaction(self._timeout))
                continue
            except BaseException:
                retry_while_passing(lambda: self._producer.abort_transaction(self._timeout))
                raise
            self._report.add(counts)
            self._released |= released
            return

    def _release_all(self, batch: list[Any]) -> tuple[ReplayReport, set[bytes]]:
        """Produce the batch's releases; its counts and the held records it released."""
        counts, released = ReplayReport(self._report.topic), set[bytes]()
        producer = self._producer
        policy_hash = self._pipeline.policy_hash
        for message in batch:
            counts.examined += 1
            held = held_record(message.topic(), message.partition(), message.offset(), message.headers())
            if held is None:
                counts.left_alone["no rg-source-* coordinates"] += 1
                continue
            if held.source.topic not in self._ingest:
                # An erasure request, or an ingest topic the policy no longer reads: not an event.
                counts.left_alone["not from a current ingest topic"] += 1
                continue
            if held.ledger_key in self._released or held.ledger_key in released:
                counts.already_released += 1
                continue
            source = held.source
            results = self._pipeline.process(message.value() or b"", source, message.key())
            outcome = release(held, results, policy_hash)
            if outcome.held_as is not None:
                counts.still_held[outcome.held_as] += 1
                continue
            for out in outcome.outputs:
                produce_queued(producer, out.topic, out.value, out.key, out.headers)
            for key, value in audit_records(source.topic, source.partition, outcome.audits, policy_hash):
                produce_queued(producer, self._audit_topic, value, key)
            entry = _ledger_value(self._pipeline, held, len(outcome.audits))
            produce_queued(producer, self._ledger, entry, held.ledger_key)
            released.add(held.ledger_key)
            counts.released.update(outcome.regions)
            counts.released_records += 1
        return counts, released


def _ledger_value(pipeline: Pipeline, held: HeldRecord, events: int) -> bytes:
    return orjson.dumps(
        {
            "released_at_ms": int(time.time() * 1000),
            "policy_version": pipeline.config.policy_version,
            "policy_hash": pipeline.policy_hash,
            "events": events,
            "source": {
                "topic": held.source.topic,
                "partition": held.source.partition,
                "offset": held.source.offset,
                "index": held.index,
            },
        }
    )
