"""The hot path: consume a batch, run each record through the pipeline, produce, then commit.

Everything per event is synchronous Python over librdkafka's in-memory queues: no
await and no network round trip per event. The one round trip is per batch: the
flush that proves every output was acknowledged before the input offsets are
committed (at-least-once). If any output fails, nothing of that batch is
committed and the engine stops: the batch is processed again on restart, never
skipped and never passed on in some other form.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from streams.kafka.retry import retry_while_passing
from streams.outcomes import OutcomeCounts
from streams.pipeline import Pipeline
from streams.routing import Output, Source

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


class GatewayEngine:
    def __init__(
        self,
        pipeline: Pipeline,
        consumer_settings: dict[str, Any],
        producer_settings: dict[str, Any],
        ingest_topics: list[str],
        batch_size: int,
        poll_timeout: float,
        flush_timeout: float = 60.0,
    ) -> None:
        self._pipeline = pipeline
        self._consumer_settings = consumer_settings
        self._producer_settings = producer_settings
        self._ingest_topics = ingest_topics
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._flush_timeout = flush_timeout
        self._delivery_errors: list[KafkaError] = []
        self.stats = EngineStats()

    def run(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        """Process until `stop` is set; raises on a failure that must not be committed past."""
        consumer = Consumer(self._consumer_settings)
        producer = Producer({**self._producer_settings, "error_cb": _log_client_error})
        try:
            consumer.subscribe(self._ingest_topics)
            if on_ready is not None:
                on_ready()
            while not stop.is_set():
                records = consumer.consume(self._batch_size, self._poll_timeout)
                if records:
                    self._process_batch(records, consumer, producer)
                else:
                    producer.poll(0)  # serve delivery callbacks while idle
        finally:
            # Whatever was produced but not committed is produced again on restart;
            # flushing here only saves that duplicate work.
            producer.flush(10)
            consumer.close()

    def _process_batch(self, records: list[Message], consumer: Consumer, producer: Producer) -> None:
        process = self._pipeline.process
        produce = producer.produce
        delivered = self._on_delivery
        count = self.stats.outcomes.add
        next_offsets: dict[tuple[str, int], int] = {}
        produced = 0
        for record in records:
            error = record.error()
            if error is not None:
                if error.fatal():
                    raise RuntimeError(f"consumer failed: {error.str()}")
                log.warning("consumer error: %s", error.str())
                continue
            topic, partition, offset = record.topic(), record.partition(), record.offset()
            assert topic is not None and partition is not None and offset is not None  # set on records
            # A null value (tombstone) is an input too: it is dead-lettered like any other bad payload.
            for result in process(record.value() or b"", Source(topic, partition, offset), record.key()):
                for out in result.outputs:
                    self._produce(produce, producer, out, delivered)
                    count(out.outcome, out.topic)
                    produced += 1
            next_offsets[(topic, partition)] = offset + 1
        self._commit(consumer, producer, next_offsets)
        self.stats.records_in += len(records)
        self.stats.events_out += produced
        self.stats.batches += 1

    def _produce(self, produce: Any, producer: Producer, out: Output, delivered: Any) -> None:
        while True:
            try:
                produce(out.topic, out.value, out.key, headers=out.headers, on_delivery=delivered)
                return
            except BufferError:
                # The local queue is full: let librdkafka send and make room, then retry.
                producer.poll(0.05)

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._delivery_errors.append(error)

    def _commit(
        self, consumer: Consumer, producer: Producer, next_offsets: dict[tuple[str, int], int]
    ) -> None:
        remaining = producer.flush(self._flush_timeout)
        if remaining or self._delivery_errors:
            reasons = sorted({e.str() for e in self._delivery_errors}) or [f"{remaining} still queued"]
            raise DeliveryFailed(f"outputs not acknowledged ({'; '.join(reasons)}); not committing")
        if next_offsets:
            offsets = [TopicPartition(t, p, o) for (t, p), o in next_offsets.items()]
            retry_while_passing(lambda: consumer.commit(offsets=offsets, asynchronous=False))
            self.stats.last_commit_at = time.time()


def _log_client_error(error: KafkaError) -> None:
    log.warning("kafka client error: %s", error.str())
