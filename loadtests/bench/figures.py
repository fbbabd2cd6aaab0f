"""The benchmark's arithmetic, pure: rates from progress samples, percentiles, ratios, the table.

A worker process samples (wall time, input records done, its own CPU seconds) while
it runs. Its rate is taken from its first progress to its last, so start-up (imports,
joining the group) and the idle tail count for no one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# (time.time(), input records done, process CPU seconds: user + system, every thread), then
# optionally the CPU seconds of the thread doing the work and of librdkafka's threads.
Sample = tuple[float, ...]


@dataclass(frozen=True)
class Rate:
    records: int  # input records done inside the window
    seconds: float
    cpu_seconds: float
    worker_thread_seconds: float = math.nan  # of those, the thread doing the work (Python)
    librdkafka_seconds: float = math.nan  # and librdkafka's threads

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_seconds / self.records * 1e6 if self.records else math.nan

    def us_per_record(self, seconds: float) -> float:
        return seconds / self.records * 1e6 if self.records else math.nan


def steady_rate(samples: Sequence[Sample]) -> Rate:
    """From the first sample showing progress to the first showing the final count.

    The first batch is left out (it is done before the first sample that shows it);
    so is whatever the process did before and after.
    """
    moving = [s for s in samples if s[1] > 0]
    if len(moving) < 2:
        raise ValueError("fewer than two samples with progress: the run was too short to measure")
    final = moving[-1][1]
    start = moving[0]
    end = next(s for s in moving if s[1] == final)
    split = (end[3] - start[3], end[4] - start[4]) if len(start) >= 5 and len(end) >= 5 else (math.nan,) * 2
    return Rate(int(end[1] - start[1]), end[0] - start[0], end[2] - start[2], *split)


def done_at(samples: Sequence[Sample], when: float) -> int:
    """Records done at wall time `when`: the last sample at or before it (0 before the first)."""
    done = 0
    for sample in samples:
        if sample[0] > when:
            break
        done = int(sample[1])
    return done


def group_rate(workers: Sequence[Sequence[Sample]]) -> Rate:
    """Several workers of one group as one: from the first progress any of them shows to the last
    of them reaching its final count. An uneven split of partitions shows in the figure, as it should."""
    firsts, ends = [], []
    for samples in workers:
        moving = [s for s in samples if s[1] > 0]
        if moving:
            firsts.append(moving[0][0])
            final = moving[-1][1]
            ends.append(next(s[0] for s in moving if s[1] == final))
    if not firsts:
        raise ValueError("no worker made progress")
    start, end = min(firsts), max(ends)
    if end <= start:
        raise ValueError("the group's run was too short to measure")
    records = sum(done_at(s, end) - done_at(s, start) for s in workers)
    cpu = sum(_cpu_at(s, end) - _cpu_at(s, start) for s in workers)
    return Rate(records, end - start, cpu)


def _cpu_at(samples: Sequence[Sample], when: float) -> float:
    cpu = samples[0][2] if samples else 0.0
    for sample in samples:
        if sample[0] > when:
            break
        cpu = sample[2]
    return cpu


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of values at or below."""
    if not values:
        raise ValueError("no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1] (got {fraction})")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# Issue 16's targets: key -> (test, as text). CPU per payload is for orientation on this
# machine; the ratio to the passthrough's CPU per record, from the same run, is what counts.
TARGETS: dict[str, tuple[Callable[[float], bool], str]] = {
    "gateway_cpu_us_per_event": (lambda v: v <= 70.0, "<= 70"),
    "cpu_ratio_vs_passthrough": (lambda v: v <= 8.0, "<= 8"),
    "ratio_vs_naive": (lambda v: v >= 6.0, ">= 6"),
    "p99_ms": (lambda v: v < 250.0, "< 250"),
    "scale_factor_2_workers": (lambda v: v > 1.0, "> 1"),
}


def targets_met(summary: Mapping[str, float]) -> dict[str, bool]:
    """Each target's key -> whether the figure meets it (a missing or NaN figure does not)."""
    return {key: test(summary[key]) for key, (test, _text) in TARGETS.items() if key in summary}


def table(rows: Sequence[tuple[str, str, str]]) -> str:
    """Rows of (what, figure, target) as aligned text."""
    header = ("what", "figure", "target")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
