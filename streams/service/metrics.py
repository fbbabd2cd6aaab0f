"""Prometheus metrics, read from the engine's counters when scraped.

The hot path only bumps plain integers (EngineStats); this collector turns them
into metric families at scrape time, so a scrape costs the engine nothing and a
metric never needs a lock around a per-event update. Labels are topic names,
regions and outcomes from the config: never a value taken from an event.

By Prometheus's conventions: counters end in `_total`, units are base units
(seconds, bytes), a moment is a Unix timestamp (`..._timestamp_seconds`), never an
age, `build_info` and `policy_info` carry versions as labels, and every labelled
series the config can produce is there from zero, so `rate()` and alerts see it
before its first increment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from streams import __version__
from streams.classify.jurisdiction import HELD_CONFLICT, HELD_NO_SIGNAL, HELD_UNASSIGNED, HELD_UNREADABLE
from streams.config import GatewayConfig
from streams.kafka.engine import EngineStats
from streams.kafka.histogram import Histogram
from streams.kafka.lag import LagReader
from streams.outcomes import Outcome
from streams.rollout import PolicyLog

PREFIX = "residency_gateway"


# The label values a series exists for from zero, beside the config's topics.
QUARANTINE_REASONS = (HELD_CONFLICT, HELD_NO_SIGNAL, HELD_UNASSIGNED, HELD_UNREADABLE)
DEAD_LETTER_STAGES = ("classify", "decode", "erasure", "route", "transform")
TRANSFORMS = ("drop", "generalize", "pseudonymize", "tokenize")


class EngineCollector(Collector):
    """Exposes one engine's EngineStats; `topic_regions` names the region each output topic holds, and
    `outputs` the (outcome, topic) pairs the config can write, each a series from zero."""

    def __init__(
        self,
        stats: EngineStats,
        topic_regions: Mapping[str, str],
        outputs: Sequence[tuple[Outcome, str]] = (),
    ) -> None:
        self._stats = stats
        self._topic_regions = dict(topic_regions)
        self._outputs = tuple(outputs)

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        yield _counter(
            "records_in",
            "Ingest records (collector payloads) read and processed, in committed batches.",
            stats.records_in,
        )
        out = CounterMetricFamily(
            f"{PREFIX}_events_out",
            "Records written, by topic, the region the topic holds, and outcome.",
            labels=["topic", "region", "outcome"],
        )
        counts = dict.fromkeys(self._outputs, 0)
        counts.update(stats.outcomes.by_topic)
        for (outcome, topic), count in sorted(
            counts.items(), key=lambda item: (item[0][1], item[0][0].value)
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
            f"{PREFIX}_keys_unavailable_since_timestamp_seconds",
            "Unix time since when events have been held for want of a key (0 when not holding).",
            value=0.0 if since is None else since,
        )
        held = CounterMetricFamily(
            f"{PREFIX}_held_events",
            "Events quarantined or dead-lettered, by outcome and reason class (no-signal, conflict, "
            "unassigned, unreadable; or the dead letter's stage: decode, classify, transform, route).",
            labels=["outcome", "reason"],
        )
        reasons = {
            **{(Outcome.QUARANTINED.value, reason): 0 for reason in QUARANTINE_REASONS},
            **{(Outcome.DEAD_LETTERED.value, stage): 0 for stage in DEAD_LETTER_STAGES},
        }
        reasons.update(stats.held_reasons)
        for (held_as, reason), count in sorted(reasons.items()):
            held.add_metric([held_as, reason], count)
        yield held
        fields = CounterMetricFamily(
            f"{PREFIX}_transformed_fields",
            "Personal fields changed in transfer copies, by transform (pseudonymize, tokenize, "
            "generalize, drop).",
            labels=["transform"],
        )
        transforms = {**dict.fromkeys(TRANSFORMS, 0), **stats.transformed_fields}
        for transform, count in sorted(transforms.items()):
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
            f"{PREFIX}_consumer_lag_read_timestamp_seconds",
            "Unix time of the consumer lag reading (it is refreshed at most every few seconds).",
            value=reading.read_at,
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
    geolocation_built: date | Callable[[], date | None] | None = None,
    config: GatewayConfig | None = None,
    process: bool = False,
    running_policy: Callable[[], tuple[str, str]] | None = None,
    policies: PolicyLog | None = None,
) -> CollectorRegistry:
    """A registry of the engine's metrics, its group's lag (given a reader), the geolocation data's
    day; with `config`, the policy's info and every series it can produce from zero; with
    `process`, this process's CPU, memory and file descriptors and Python's GC."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(stats, topic_regions, outputs_of(config) if config else ()))
    if running_policy is None and config is not None:
        fixed = (config.policy_version, config.policy_hash())
        running_policy = lambda: fixed  # noqa: E731 - a policy that never changes
    registry.register(_Info(running_policy, policies))
    if process:
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        PlatformCollector(registry=registry)
    if geolocation_built is not None:
        registry.register(_GeolocationData(geolocation_built))
    if lag is not None:
        registry.register(LagCollector(lag))
    return registry


def outputs_of(config: GatewayConfig) -> list[tuple[Outcome, str]]:
    """Every (outcome, topic) a gateway under `config` can write: a series each, from zero."""
    pairs = [(Outcome.ROUTED, region.topic) for region in config.regions.values()]
    pairs += [(Outcome.EXPORTED, destination.topic) for destination in config.destinations.values()]
    pairs += [
        (Outcome.QUARANTINED, config.topics.quarantine),
        (Outcome.DEAD_LETTERED, config.topics.dead_letter),
    ]
    return pairs


class _Info(Collector):
    """`build_info{version}`; `policy_info{policy_version, policy_hash}` of the policy running now
    (a rollout shows as each worker's series changing); and, given the worker's policy log, the
    policies it switched to and refused."""

    def __init__(self, policy: Callable[[], tuple[str, str]] | None, policies: PolicyLog | None) -> None:
        self._policy = policy
        self._policies = policies

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(f"{PREFIX}_build_info", "The gateway's version.", labels=["version"])
        build.add_metric([__version__], 1)
        yield build
        if self._policy is not None:
            policy = GaugeMetricFamily(
                f"{PREFIX}_policy_info",
                "The policy in force: its version and the hash of the whole validated policy.",
                labels=["policy_version", "policy_hash"],
            )
            policy.add_metric(list(self._policy()), 1)
            yield policy
        if self._policies is not None:
            switches = CounterMetricFamily(
                f"{PREFIX}_policy_switches", "Policies this worker switched to since it started."
            )
            switches.add_metric([], self._policies.switches)
            refusals = CounterMetricFamily(
                f"{PREFIX}_policy_refusals",
                "Policies this worker refused (invalid, or changing what needs a restart); /health says why.",
            )
            refusals.add_metric([], self._policies.refusals)
            yield from (switches, refusals)


class _GeolocationData(Collector):
    """When the IP-to-country data was built, as a timestamp: alert on `time() - it` (docs/operations.md)."""

    def __init__(self, built: date | Callable[[], date | None]) -> None:
        # A callable: the day of the data loaded now, which a replaced file changes without a restart.
        self._built = built if callable(built) else lambda: built

    def collect(self) -> Iterator[Metric]:
        built = self._built()
        if built is None:
            return
        yield GaugeMetricFamily(
            f"{PREFIX}_geolocation_data_built_timestamp_seconds",
            "Unix time of the day the IP geolocation data was built.",
            value=datetime.combine(built, datetime.min.time(), tzinfo=UTC).timestamp(),
        )


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(registry)
