"""`residency-gateway shadow`: decide live traffic under the active and a candidate policy, write nothing.

It reads the ingest topics in a consumer group of its own (`<group_id>-shadow`), committing no
offsets: it starts at the topics' ends (or their beginnings), decides every payload under both
policies (streams/shadow.py) and keeps the differences. Nothing is produced anywhere. A live table
goes to stderr, the counts to /metrics (labels are region names, destination topics and change
kinds, never a value or a field path), and on stop a report file with example event ids per change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streams.kafka.clients import consumer_settings
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.shadow import Comparison, compare_payload

log = logging.getLogger(__name__)
PREFIX = "residency_gateway_shadow"


class Shadow:
    """The comparison over live traffic; `run` until `stop` is set (or the ends, with `stop_at_end`)."""

    def __init__(
        self,
        active: Pipeline,
        candidate: Pipeline,
        bootstrap: str,
        *,
        from_beginning: bool = False,
        client_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.active, self.candidate = active, candidate
        self.comparison = Comparison()
        self.payloads = 0
        self._lock = threading.Lock()  # the metrics scrape reads what the loop writes
        kafka = active.config.kafka
        self._settings = {
            **consumer_settings(kafka, bootstrap),
            "group.id": f"{kafka.group_id}-shadow",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            **dict(client_settings or {}),
        }
        self._from_beginning = from_beginning
        self._topics = list(active.config.topics.ingest)

    def run(
        self,
        stop: threading.Event,
        stop_at_end: bool = False,
        on_tick: Callable[[Shadow], None] | None = None,
        tick_seconds: float = 5.0,
    ) -> None:
        consumer = Consumer({**self._settings, "enable.partition.eof": stop_at_end})
        try:
            ends: dict[tuple[str, int], int] = {}
            if stop_at_end:
                ends = self._ends(consumer)
            if stop_at_end:
                # With ends to reach: every partition that has records, assigned, without a rebalance.
                start = OFFSET_BEGINNING if self._from_beginning else OFFSET_END
                consumer.assign([TopicPartition(topic, partition, start) for topic, partition in ends])
            else:
                consumer.subscribe(self._topics)
            next_tick = time.monotonic() + tick_seconds
            while not stop.is_set():
                if stop_at_end and not ends:
                    return
                for message in consumer.consume(500, 0.5):
                    error = message.error()
                    key = (message.topic(), message.partition())
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            ends.pop(key, None)  # type: ignore[arg-type]
                            continue
                        if error.fatal():
                            raise KafkaException(error)
                        log.warning("shadow consumer: %s", error.str())
                        continue
                    topic, partition, offset = message.topic(), message.partition(), message.offset()
                    assert topic is not None and partition is not None and offset is not None
                    with self._lock:
                        compare_payload(
                            self.active,
                            self.candidate,
                            message.value() or b"",
                            Source(topic, partition, offset),
                            self.comparison,
                            message.key(),
                        )
                        self.payloads += 1
                    if stop_at_end and offset + 1 >= ends.get((topic, partition), offset + 2):
                        ends.pop((topic, partition), None)
                if on_tick is not None and time.monotonic() >= next_tick:
                    on_tick(self)
                    next_tick = time.monotonic() + tick_seconds
        finally:
            consumer.close()

    def _ends(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        listed = consumer.list_topics(timeout=30).topics
        ends = {}
        for topic in self._topics:
            for partition in listed[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
                if high > low:
                    ends[(topic, partition)] = high
        return ends

    def report(self) -> dict[str, Any]:
        with self._lock:
            report = self.comparison.report()
        return {
            "active": {
                "policy_version": self.active.config.policy_version,
                "policy_hash": self.active.policy_hash,
            },
            "candidate": {
                "policy_version": self.candidate.config.policy_version,
                "policy_hash": self.candidate.policy_hash,
            },
            "payloads": self.payloads,
            **report,
        }


class ShadowMetrics(Collector):
    """The comparison as Prometheus metrics, read at scrape time."""

    def __init__(self, shadow: Shadow) -> None:
        self._shadow = shadow

    def collect(self) -> Any:
        shadow = self._shadow
        with shadow._lock:
            comparison = shadow.comparison
            events = CounterMetricFamily(f"{PREFIX}_events", "Events decided under both policies.")
            events.add_metric([], comparison.events)
            changed = CounterMetricFamily(
                f"{PREFIX}_changed_events", "Events the candidate treats differently."
            )
            changed.add_metric([], comparison.changed)
            moves = CounterMetricFamily(
                f"{PREFIX}_moved_events", "Events whose place changes.", labels=["from", "to"]
            )
            for name, change in comparison.moves.items():
                before, _, after = name.partition(" -> ")
                moves.add_metric([before, after], change.count)
            copies = CounterMetricFamily(
                f"{PREFIX}_copy_changes",
                "Copies that appear or disappear, per destination topic.",
                labels=["destination", "change"],
            )
            for kind, table in (
                ("appear", comparison.copies_appear),
                ("disappear", comparison.copies_disappear),
            ):
                for topic, change in table.items():
                    copies.add_metric([topic, kind], change.count)
            fields = CounterMetricFamily(
                f"{PREFIX}_newly_exported_field_events",
                "Events whose copy would carry new fields, per destination (the paths: the report).",
                labels=["destination"],
            )
            for topic, paths in comparison.newly_exported.items():
                fields.add_metric([topic], sum(change.count for change in paths.values()))
            version = GaugeMetricFamily(
                f"{PREFIX}_candidate_info", "The candidate policy.", labels=["policy_version", "policy_hash"]
            )
            version.add_metric([shadow.candidate.config.policy_version, shadow.candidate.policy_hash], 1)
        yield from (events, changed, moves, copies, fields, version)


def shadow_registry(shadow: Shadow) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ShadowMetrics(shadow))
    return registry
