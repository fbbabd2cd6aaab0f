"""In-memory stand-ins for confluent-kafka's Consumer and Producer, for the engine's unit tests.

They model only what the engine's logic depends on: which records a `consume` call may
return (what has arrived past each partition's position, and only after a wait when
nothing has), positions moved by `seek`, a transaction's records and offsets becoming
visible together at commit and vanishing at abort, and failures scripted per call.
The engine's behaviour against a real broker is what the integration tests prove.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import TopicPartition


class FakeRecord:
    def __init__(
        self, topic: str, partition: int, offset: int, value: bytes | None, key: bytes | None = None
    ):
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._key = value, key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def error(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)  # CreateTime 0: no age to measure


class FakeConsumer:
    """Records that have arrived, a position per partition, and every call the engine made.

    `consume(n, 0)` returns up to n records past the positions, in arrival order. With a
    timeout and nothing to return it first calls `on_wait` (the test's turn: records arrive,
    a rebalance happens, or the run is stopped), as a real consumer returns once a record
    arrives or the timeout passes.
    """

    def __init__(self, records: list[FakeRecord], on_wait: Callable[[FakeConsumer], None]) -> None:
        self.arrived = list(records)
        self.positions: dict[tuple[str, int], int] = {}
        self.on_wait = on_wait
        self.consumed: list[tuple[int, float]] = []  # (how many asked for, timeout) per call
        self.seeks: list[tuple[str, int, int]] = []
        self.committed: dict[tuple[str, int], int] = {}  # at-least-once commits
        self.on_assign: Callable[..., None] | None = None
        self.before_next_consume: Callable[[], None] | None = None
        self.closed = False

    def subscribe(self, topics: list[str], *, on_assign: Any, on_revoke: Any, on_lost: Any) -> None:
        self.topics = topics
        self.on_assign = on_assign

    def rebalance(self) -> None:
        """As librdkafka serves a rebalance inside a consume call: the assignment callback runs."""
        assert self.on_assign is not None
        self.on_assign(self, [])

    def consume(self, count: int, timeout: float) -> list[FakeRecord]:
        self.consumed.append((count, timeout))
        if self.before_next_consume is not None:
            hook, self.before_next_consume = self.before_next_consume, None
            hook()
        if not self._available() and timeout > 0:
            self.on_wait(self)
        taken = self._available()[:count]
        for record in taken:
            self.positions[(record.topic(), record.partition())] = record.offset() + 1
        return taken

    def _available(self) -> list[FakeRecord]:
        return [r for r in self.arrived if r.offset() >= self.positions.get((r.topic(), r.partition()), 0)]

    def seek(self, partition: TopicPartition) -> None:
        self.seeks.append((partition.topic, partition.partition, partition.offset))
        self.positions[(partition.topic, partition.partition)] = partition.offset

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.committed.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Records written in transactions: visible (`written`) only once their transaction commits.

    `commit_failures` are raised, one per call, by the next commit_transaction calls; a commit
    that raises leaves its transaction open, as librdkafka does, for the engine to abort.
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.transactional = "transactional.id" in settings
        self.pending: list[tuple[str, bytes | None, bytes | None]] = []
        self.written: list[tuple[str, bytes | None, bytes | None]] = []
        self.pending_offsets: dict[tuple[str, int], int] = {}
        self.committed_offsets: dict[tuple[str, int], int] = {}
        self.commit_failures: list[Exception] = []
        self.unacknowledged = 0  # what a flush reports still queued (at least once)
        self.calls: list[str] = []

    def init_transactions(self, timeout: float) -> None:
        self.calls.append("init")

    def begin_transaction(self) -> None:
        assert not self.pending, "a transaction began with records of the last one still open"
        self.calls.append("begin")

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, **_: Any) -> None:
        self.pending.append((topic, value, key))

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], metadata: Any, timeout: float
    ) -> None:
        self.pending_offsets.update({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        self.calls.append("commit")
        if self.commit_failures:
            raise self.commit_failures.pop(0)
        self.written += self.pending
        self.committed_offsets.update(self.pending_offsets)
        self.pending, self.pending_offsets = [], {}

    def abort_transaction(self, timeout: float) -> None:
        self.calls.append("abort")
        self.pending, self.pending_offsets = [], {}

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        if not self.transactional and not self.unacknowledged:  # at least once: all acknowledged
            self.written += self.pending
            self.pending = []
        return self.unacknowledged
