"""End-to-end latency at a fixed offered load: from produce() to readable by a read_committed reader.

Each input's audit record commits in the same transaction as its outputs, and names
the input's partition and offset; so the moment a read_committed reader receives the
first audit record of an input is the moment that input's outputs became readable.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

from confluent_kafka import Consumer, TopicPartition

from loadtests.generator import send
from streams.audit import audit_entries

Key = tuple[int, int]  # (partition, offset) of an input record


class AuditWatcher:
    """Reads the audit topic read_committed in a thread; notes when each input's first record arrives."""

    def __init__(self, bootstrap: str, audit_topic: str, ingest_topic: str) -> None:
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-latency-{uuid.uuid4().hex}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                # Don't let the reader's own long poll add to the figure.
                "fetch.wait.max.ms": 10,
            }
        )
        partitions = self._consumer.list_topics(audit_topic, timeout=10).topics[audit_topic].partitions
        self._consumer.assign([TopicPartition(audit_topic, p, 0) for p in partitions])
        self._ingest = ingest_topic
        self.seen: dict[Key, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AuditWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()

    def _run(self) -> None:
        seen, ingest = self.seen, self._ingest
        while not self._stop.is_set():
            records = self._consumer.consume(1000, 0.05)
            now = time.time()
            for record in records:
                if record.error() is not None:
                    continue
                for entry in audit_entries(record.value() or b""):  # a batch's events from one partition
                    source = entry["source"]
                    if source["topic"] == ingest:
                        seen.setdefault((source["partition"], source["offset"]), now)

    def wait_for(self, keys: set[Key], timeout: float) -> set[Key]:
        """Wait until every key was seen; returns the ones still missing after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = {k for k in keys if k not in self.seen}
            if not missing:
                return missing
            time.sleep(0.1)
        return {k for k in keys if k not in self.seen}


def measure(
    bootstrap: str,
    ingest: str,
    audit_topic: str,
    payloads: Callable[[int], Iterator[bytes]],
    rate: float,
    seconds: float,
    warmup: float = 2.0,
    say: Callable[[str], None] = lambda _m: None,
    warm_payloads: int = 20,
) -> tuple[list[float], float]:
    """Latencies in ms of the inputs sent after `warmup` seconds of a paced run at `rate` per second,
    and the rate actually offered.

    First `warm_payloads` are sent at once and waited for: the gateway has joined its group,
    and its caches (event names, pages, user agents, places) hold what a running worker's
    would, so the figures are a running worker's, not its start-up's.
    """
    with AuditWatcher(bootstrap, audit_topic, ingest) as watcher:
        probe: dict[Key, float] = {}
        send(bootstrap, ingest, payloads(warm_payloads), on_sent=lambda p, o, t: probe.__setitem__((p, o), t))
        if watcher.wait_for(set(probe), timeout=180):
            raise RuntimeError(
                f"the gateway did not process the {warm_payloads:,} warm-up payloads within 180s"
            )
        say(f"offering {rate:,.0f} payloads/s for {warmup + seconds:.0f}s ({warmup:.0f}s warm-up)")
        sent: dict[Key, float] = {}
        started = time.time()
        report = send(
            bootstrap,
            ingest,
            payloads(int(rate * (warmup + seconds))),
            rate=rate,
            on_sent=lambda p, o, t: sent.__setitem__((p, o), t),
        )
        measured = {k for k, t in sent.items() if t >= started + warmup}
        missing = watcher.wait_for(measured, timeout=60)
        if missing:
            raise RuntimeError(
                f"{len(missing)} of {len(measured)} latency inputs never reached the audit topic"
            )
        return [(watcher.seen[k] - sent[k]) * 1000 for k in measured], report.rate
