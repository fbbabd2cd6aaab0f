"""Prometheus metrics, read from the engine's counters when scraped.

The hot path only bumps plain integers (EngineStats); this collector turns them
into metric families at scrape time, so a scrape costs the engine nothing and a
metric never needs a lock around a per-event update. Labels are topic names,
regions and outcomes from the config: never a value taken from an event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.kafka.engine import EngineStats
from streams.kafka.histogram import Histogram
from streams.kafka.lag import LagReader

PREFIX = "residency_gateway"


class EngineCollector(Collector):
    """Exposes one engine's EngineStats; `topic_regions` names the region each output topic holds."""

    def __init__(self, stats: EngineStats, topic_regions: Mapping[str, str]) -> None:
        self._stats = stats
        self._topic_regions = dict(topic_regions)

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        yield _counter(
            "events_in", "Ingest records read and processed (committed batches).", stats.records_in
        )
        out = CounterMetricFamily(
            f"{PREFIX}_events_out",
            "Records written, by topic, the region the topic holds, and outcome.",
            labels=["topic", "region", "outcome"],
        )
        for (outcome, topic), count in sorted(
            stats.outcomes.by_topic.items(), key=lambda item: (item[0][1], item[0][0].value)
        ):
            out.add_metric([topic, self._topic_regions.get(topic, ""), outcome.value], count)
        yield out
        yield _counter(
            "audit_records",
            "Audit records written: one per batch per source partition, listing its events.",
            stats.audit_records,
        )
        yield _counter(
            "audited_events",
            "Entries in the audit records: one per input event and erasure request.",
            stats.audited_events,
        )
        yield _counter("erasures", "Erasure requests applied.", stats.erasures)
        yield _counter(
            "key_waits",
            "Batches aborted, neither routed nor committed, and read again because a key was unavailable.",
            stats.key_waits,
        )
        yield _counter(
            "batches_closed_by_time",
            "Batches that closed at kafka.max_batch_ms and left their other records to the next batch.",
            stats.batches_closed_by_time,
        )
        yield _counter(
            "aborted_transactions",
            "Batches whose transaction was aborted and that ran again (broker restart, rebalance).",
            stats.aborted_transactions,
        )
        since = stats.keys_unavailable_since
        yield GaugeMetricFamily(
            f"{PREFIX}_keys_unavailable",
            "1 while events are held because a key is missing or unreachable, else 0.",
            value=0 if since is None else 1,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_keys_unavailable_seconds",
            "How long events have been held for want of a key (0 when not holding).",
            value=0.0 if since is None else max(0.0, time.time() - since),
        )
        held = CounterMetricFamily(
            f"{PREFIX}_held_events",
            "Events quarantined or dead-lettered, by outcome and reason class (no-signal, conflict, "
            "unassigned, unreadable; or the dead letter's stage: decode, classify, transform, route).",
            labels=["outcome", "reason"],
        )
        for (held_as, reason), count in sorted(stats.held_reasons.items()):
            held.add_metric([held_as, reason], count)
        yield held
        fields = CounterMetricFamily(
            f"{PREFIX}_transformed_fields",
            "Personal fields changed in transfer copies, by transform (pseudonymize, tokenize, "
            "generalize, drop).",
            labels=["transform"],
        )
        for transform, count in sorted(stats.transformed_fields.items()):
            fields.add_metric([transform], count)
        yield fields
        yield _histogram(
            "batch_seconds", "Processing time of a batch, from consumed to committed.", stats.batch_seconds
        )
        yield _histogram(
            "oldest_event_seconds",
            "Per batch at its commit, the age of its oldest event since it reached the ingest topic "
            "(an upper bound on every event's end-to-end latency in that batch).",
            stats.oldest_event_seconds,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_last_commit_timestamp_seconds",
            "Unix time of the last committed batch (0 before the first).",
            value=stats.last_commit_at,
        )


class LagCollector(Collector):
    """The gateway group's consumer lag per ingest partition, read when scraped (streams.kafka.lag)."""

    def __init__(self, reader: LagReader) -> None:
        self._reader = reader

    def collect(self) -> Iterator[Metric]:
        reading = self._reader.reading()
        if reading is None:  # never read yet: no sample rather than a made-up 0
            return
        lag = GaugeMetricFamily(
            f"{PREFIX}_consumer_lag",
            "Records a read_committed reader could read that the gateway's group hasn't committed.",
            labels=["topic", "partition"],
        )
        for partition in reading.partitions:
            lag.add_metric([partition.topic, str(partition.partition)], partition.lag)
        yield lag
        yield GaugeMetricFamily(
            f"{PREFIX}_consumer_lag_age_seconds",
            "How old the consumer lag reading is (it is refreshed at most every few seconds).",
            value=max(0.0, time.time() - reading.read_at),
        )


def _histogram(name: str, documentation: str, histogram: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        f"{PREFIX}_{name}", documentation, buckets=histogram.cumulative(), sum_value=histogram.total
    )


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def engine_registry(
    stats: EngineStats,
    topic_regions: Mapping[str, str],
    lag: LagReader | None = None,
    geolocation_built: date | None = None,
) -> CollectorRegistry:
    """A registry of the engine's metrics (and its group's lag, given a reader); no process or GC ones."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(stats, topic_regions))
    if geolocation_built is not None:
        registry.register(_GeolocationData(geolocation_built))
    if lag is not None:
        registry.register(LagCollector(lag))
    return registry


class _GeolocationData(Collector):
    """When the IP-to-country data was built, as a timestamp: alert on `time() - it` (docs/operations.md)."""

    def __init__(self, built: date) -> None:
        self._at = datetime.combine(built, datetime.min.time(), tzinfo=UTC).timestamp()

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            f"{PREFIX}_geolocation_data_built_timestamp_seconds",
            "Unix time of the day the IP geolocation data was built.",
            value=self._at,
        )


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(registry)
