"""Read partitions to a known end, as a read_committed downstream consumer sees them."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Consumer, Message, TopicPartition


def read_to_end(
    consumer: Consumer,
    ends: dict[tuple[str, int], int],
    starts: dict[tuple[str, int], int] | None = None,
    on_record: Callable[[Message], None] = lambda _record: None,
    timeout: float = 60.0,
) -> dict[tuple[str, int], int]:
    """Assign, then consume until each partition's position reaches its end offset.

    The position, not the last record, says when a partition is read: a transaction's
    commit or abort marker takes an offset that a read_committed consumer never
    returns, so a topic written transactionally ends in an offset no record has.
    Returns the partitions not read to their end within `timeout` (empty when done).
    """
    starts = starts or {}
    pending = {tp: end for tp, end in ends.items() if end > starts.get(tp, 0)}
    consumer.assign([TopicPartition(t, p, starts.get((t, p), 0)) for t, p in pending])
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for record in consumer.consume(1000, 0.5):
            if record.error() is None:
                on_record(record)
        for tp in consumer.position([TopicPartition(t, p) for t, p in pending]):
            if tp.offset >= pending[(tp.topic, tp.partition)]:
                del pending[(tp.topic, tp.partition)]
    return pending
