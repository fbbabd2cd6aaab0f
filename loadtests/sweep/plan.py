"""What the sweep measures, and the sizing arithmetic the tuning guide gives: pure, no Kafka.

Each throughput point runs one fresh gateway worker over a pre-loaded topic until it has
done every payload (a saturated worker: its rate is what one worker sustains). Each
latency point offers a fixed fraction of the base point's rate and measures when each
payload's audit entry became readable, as the bench does (loadtests/bench/latency.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from streams.devtools.traffic import TrafficMix

# The bench's traffic: every format, every region, ~10% of events with personal data in free text.
MIXED = TrafficMix(free_text_pii=0.10)
_ONLY = dict.fromkeys(
    (
        "segment_single",
        "segment_batch",
        "rudderstack",
        "snowplow_post",
        "snowplow_get",
        "snowplow_enriched",
        "ga4",
    ),
    0.0,
)
MIXES: dict[str, TrafficMix] = {
    "mixed": MIXED,
    "single events": TrafficMix(**{**_ONLY, "segment_single": 1.0}, free_text_pii=0.10),
    "batches": TrafficMix(**{**_ONLY, "segment_batch": 1.0}, free_text_pii=0.10),
}


@dataclass(frozen=True)
class Point:
    name: str
    mix: str = "mixed"
    delivery: str = "exactly_once"
    # Changes to the default policy (loadtests/bench/topology.py): {"kafka": {...}, "transfers": False}.
    overrides: dict[str, Any] = field(default_factory=dict)
    load: float = 0.0  # latency points: the fraction of the base point's rate offered


BASE = "mixed, defaults"


def throughput_points(quick: bool) -> list[Point]:
    if quick:
        return [
            Point(BASE),
            Point("single events", mix="single events"),
            Point("at least once", delivery="at_least_once"),
        ]
    return [
        Point(BASE),
        Point("single events", mix="single events"),
        Point("batches", mix="batches"),
        Point("nothing exported", overrides={"transfers": False}),
        Point("at least once", delivery="at_least_once"),
        Point("compression none", overrides={"kafka": {"compression": "none"}}),
        Point("compression zstd", overrides={"kafka": {"compression": "zstd"}}),
        Point("batch_size 100", overrides={"kafka": {"batch_size": 100}}),
        Point("batch_size 500", overrides={"kafka": {"batch_size": 500}}),
    ]


def latency_points(quick: bool) -> list[Point]:
    if quick:
        return [
            Point("exactly once, half", load=0.5),
            Point("at least once, half", delivery="at_least_once", load=0.5),
        ]
    return [
        Point("exactly once, quarter", load=0.25),
        Point("exactly once, half", load=0.5),
        Point("exactly once, three quarters", load=0.75),
        Point("at least once, half", delivery="at_least_once", load=0.5),
        Point("batch_size 100, half", overrides={"kafka": {"batch_size": 100}}, load=0.5),
        Point("batch_size 500, half", overrides={"kafka": {"batch_size": 500}}, load=0.5),
        Point("max_batch_ms 100, half", overrides={"kafka": {"max_batch_ms": 100}}, load=0.5),
        Point("max_batch_ms 250, half", overrides={"kafka": {"max_batch_ms": 250}}, load=0.5),
    ]


# --- sizing ------------------------------------------------------------------------------------------

# Run each worker at no more than this share of what it sustains saturated: the rest absorbs
# bursts and the catch-up after a restart or a rebalance, and keeps p99 near the half-load figure.
HEADROOM = 0.5


def workers_needed(events_per_second: float, per_worker: float, headroom: float = HEADROOM) -> int:
    """Workers (one core each) for a steady `events_per_second` when one sustains `per_worker`."""
    if per_worker <= 0 or not 0 < headroom <= 1:
        raise ValueError("a worker's rate must be positive and the headroom in (0, 1]")
    return max(1, math.ceil(events_per_second / (per_worker * headroom)))


def partitions_for(workers: int) -> int:
    """Ingest partitions for `workers`: a partition is read by one worker of a group, so at least
    one each; twice that, rounded up to a multiple of 6, leaves room to double the workers later
    without repartitioning (a repartition moves keys, and so the order of a key's events)."""
    return max(6, math.ceil(2 * workers / 6) * 6)


def sizing_table(
    per_worker: float, rates: tuple[float, ...] = (1_000, 5_000, 20_000, 100_000)
) -> list[dict[str, Any]]:
    """The guide's worked table: for each steady rate, the workers and ingest partitions to run."""
    rows = []
    for rate in rates:
        workers = workers_needed(rate, per_worker)
        rows.append({"payloads_per_s": rate, "workers": workers, "partitions": partitions_for(workers)})
    return rows
