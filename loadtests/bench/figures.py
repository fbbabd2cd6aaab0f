"""The benchmark's arithmetic, pure: rates from progress samples, percentiles, ratios, the table.

A worker process samples (wall time, input records done, its own CPU seconds) while
it runs. Its rate is taken from its first progress to its last, so start-up (imports,
joining the group) and the idle tail count for no one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# (time.time(), input records done, process CPU seconds: user + system, every thread)
Sample = tuple[float, int, float]


@dataclass(frozen=True)
class Rate:
    records: int  # input records done inside the window
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_seconds / self.records * 1e6 if self.records else math.nan


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
    return Rate(end[1] - start[1], end[0] - start[0], end[2] - start[2])


def done_at(samples: Sequence[Sample], when: float) -> int:
    """Records done at wall time `when`: the last sample at or before it (0 before the first)."""
    done = 0
    for at, count, _cpu in samples:
        if at > when:
            break
        done = count
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
    for at, _count, used in samples:
        if at > when:
            break
        cpu = used
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


# The targets: key -> (test, as text).
TARGETS: dict[str, tuple[Callable[[float], bool], str]] = {
    "ratio_vs_passthrough": (lambda v: v >= 0.70, ">= 0.70"),
    "ratio_vs_naive": (lambda v: v >= 10.0, ">= 10"),
    "gateway_cpu_us_per_event": (lambda v: v <= 15.0, "<= 15"),
    "p99_ms": (lambda v: v < 100.0, "< 100"),
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
