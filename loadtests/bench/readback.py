"""What the broker holds after a contender ran: records per topic as read_committed readers see them."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.audit import audit_entries
from streams.kafka.reading import read_to_end


def _consumer(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"bench-reader-{uuid.uuid4().hex}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )


def end_offsets(consumer: Consumer, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    metadata = consumer.list_topics(timeout=10)
    ends = {}
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            ends[(topic, partition)] = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )[1]
    return ends


@dataclass
class Tally:
    """What a topic holds: committed records, and the bytes of their values and headers."""

    records: int = 0
    value_bytes: int = 0
    header_bytes: int = 0  # each header's name and value
    audit_entries: int = 0  # on an audit topic: the entries its records list, one per event


def count_records(bootstrap: str, topics: list[str], timeout: float = 120.0) -> Counter[str]:
    """Every committed record now in `topics`, counted per topic."""
    return Counter(
        {topic: tally.records for topic, tally in tally_records(bootstrap, topics, timeout).items()}
    )


def tally_records(
    bootstrap: str, topics: list[str], timeout: float = 120.0, audit_topic: str | None = None
) -> dict[str, Tally]:
    """Every committed record now in `topics`, with its bytes, per topic (and `audit_topic`'s entries)."""
    consumer = _consumer(bootstrap)
    counts = {topic: Tally() for topic in topics}

    def keep(record: Message) -> None:
        tally = counts[record.topic() or ""]
        tally.records += 1
        tally.value_bytes += len(record.value() or b"")
        if record.topic() == audit_topic:
            tally.audit_entries += len(audit_entries(record.value() or b""))
        # A consumed record's headers are a list of (name, value) pairs; the stubs allow a dict too.
        headers = cast(list[tuple[str, bytes | None]], record.headers() or [])
        tally.header_bytes += sum(len(name) + len(value or b"") for name, value in headers)

    try:
        unread = read_to_end(consumer, end_offsets(consumer, topics), on_record=keep, timeout=timeout)
    finally:
        consumer.close()
    if unread:
        raise RuntimeError(f"could not read to the end of {sorted(unread)} within {timeout:.0f}s")
    return counts


def wait_committed(
    bootstrap: str, group: str, topic: str, timeout: float, ends: dict[int, int] | None = None
) -> None:
    """Return once `group` has committed the end of every partition of `topic`.

    The end is the high watermark, or `ends` (partition -> offset) for a topic written in
    transactions, where the watermark counts the commit marker that no consumer commits past.
    """
    consumer = _consumer(bootstrap, group=f"bench-probe-{uuid.uuid4().hex}")
    try:
        if ends is None:
            watermarks = end_offsets(consumer, [topic])
        else:
            watermarks = {(topic, p): offset for p, offset in ends.items()}
        probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    committed = probe.committed([TopicPartition(t, p) for t, p in watermarks], timeout=10)
                except KafkaException:
                    time.sleep(0.2)  # the coordinator is still loading: ask again
                    continue
                wanted = [(tp.offset, watermarks[(tp.topic, tp.partition)]) for tp in committed]
                if all(offset >= end or not end for offset, end in wanted):
                    return
                time.sleep(0.05)
        finally:
            probe.close()
    finally:
        consumer.close()
    raise TimeoutError(f"group {group} did not commit the end of {topic} within {timeout:.0f}s")


def wait_assigned(bootstrap: str, group: str, topic: str, members: int, timeout: float) -> list[int]:
    """Wait until `group` is stable with `members` members; returns how many partitions of `topic` each owns.

    Whatever the split: the group's assignor decides it, and the benchmark reports it.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [description] = admin.describe_consumer_groups([group], request_timeout=10).values()
        try:
            state = description.result()
        except KafkaException:
            time.sleep(0.2)
            continue
        if state.state == ConsumerGroupState.STABLE and len(state.members) == members:
            return sorted(
                (sum(1 for tp in m.assignment.topic_partitions if tp.topic == topic) for m in state.members),
                reverse=True,
            )
        time.sleep(0.1)
    raise TimeoutError(f"group {group} did not settle with {members} members within {timeout:.0f}s")
