"""Retry a Kafka call while the broker says its failure is passing (a coordinator loading, say)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException, Producer

T = TypeVar("T")

# Errors a just-started or rebalancing cluster returns for a moment; librdkafka
# doesn't retry a synchronous commit on them by itself.
_PASSING = {
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REQUEST_TIMED_OUT,
}


def retry_while_passing(call: Callable[[], T], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            # A transaction that must be aborted, or a fatal error, is never retried here.
            passing = (
                isinstance(error, KafkaError)
                and not (error.txn_requires_abort() or error.fatal())
                and (error.retriable() or error.code() in _PASSING)
            )
            if not passing or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def produce_queued(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    headers: Any = None,  # librdkafka's: a list of (name, value) pairs
    on_delivery: Callable[..., None] | None = None,
) -> None:
    """Produce, waiting while librdkafka's local queue is full (BufferError) for it to send some."""
    while True:
        try:
            producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
            return
        except BufferError:
            producer.poll(0.05)
