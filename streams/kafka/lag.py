"""The gateway group's consumer lag, read with an admin client of its own, never the engine's consumer.

Lag is what a read_committed reader could still read and the group hasn't committed:
the last stable offset minus the committed offset (or minus the log start, for a
partition the group never committed, since it starts from the earliest). It is read
at scrape time, at most once every `max_age` seconds, so the hot path never pays.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed this partition
    end: int  # the last stable offset: the end a read_committed reader sees
    lag: int


@dataclass(frozen=True)
class LagReading:
    partitions: tuple[PartitionLag, ...]
    read_at: float  # time.time() of the reading

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)


class LagReader:
    """Reads `group`'s lag on `topics`; `settings` are an admin client's (the gateway's login)."""

    def __init__(
        self,
        settings: dict[str, Any],
        group: str,
        topics: Sequence[str],
        *,
        max_age: float = 2.0,
        timeout: float = 5.0,
    ) -> None:
        self._settings = settings
        self._group = group
        self._topics = list(topics)
        self._max_age = max_age
        self._timeout = timeout
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()
        self._last: LagReading | None = None
        self._failing = False

    def reading(self) -> LagReading | None:
        """The latest reading, refreshed if older than max_age; the previous one if Kafka doesn't answer."""
        with self._lock:
            last = self._last
            if last is not None and time.time() - last.read_at < self._max_age:
                return last
            try:
                self._last = self._read()
            except (KafkaException, TimeoutError) as error:
                if not self._failing:  # once per outage, not once per scrape
                    log.warning("consumer lag unreadable: %s", error, extra={"group": self._group})
                self._failing = True
                return last
            self._failing = False
            return self._last

    def _read(self) -> LagReading:
        if self._admin is None:
            self._admin = AdminClient(self._settings)
        admin, timeout = self._admin, self._timeout
        metadata = admin.list_topics(timeout=timeout).topics
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            if topic in metadata
            for p in sorted(metadata[topic].partitions)
        ]
        request = [ConsumerGroupTopicPartitions(self._group, partitions)]
        answer = admin.list_consumer_group_offsets(request, request_timeout=timeout)
        committed = {
            (tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None
            for tp in answer[self._group].result(timeout).topic_partitions
        }
        ends = self._offsets(partitions, OffsetSpec.latest())  # type: ignore[no-untyped-call]
        never = [tp for tp in partitions if committed.get((tp.topic, tp.partition)) is None]
        starts = self._offsets(never, OffsetSpec.earliest()) if never else {}  # type: ignore[no-untyped-call]
        lags = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            position = committed.get(key)
            end = ends[key]
            lag = end - (starts[key] if position is None else position)
            lags.append(PartitionLag(tp.topic, tp.partition, position, end, max(0, lag)))
        return LagReading(tuple(lags), time.time())

    def _offsets(self, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        assert self._admin is not None
        futures = self._admin.list_offsets(
            {tp: spec for tp in partitions},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=self._timeout,
        )
        return {(tp.topic, tp.partition): f.result(self._timeout).offset for tp, f in futures.items()}
