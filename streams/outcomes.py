"""The four things that can happen to an event, each defined once and counted in one place."""

from __future__ import annotations

import enum
from collections import Counter


class Outcome(enum.Enum):
    ROUTED = "routed"  # the full event, written to its home region's topic
    EXPORTED = "exported"  # a pseudonymized copy, written to the global topic
    QUARANTINED = "quarantined"  # jurisdiction undecidable: held, never defaulted
    DEAD_LETTERED = "dead-lettered"  # unparseable: kept with its reason and source


class OutcomeCounts:
    """Counts per (outcome, topic). Labels are topic names and outcomes, never event data."""

    def __init__(self) -> None:
        self.by_topic: Counter[tuple[Outcome, str]] = Counter()

    def add(self, outcome: Outcome, topic: str, count: int = 1) -> None:
        self.by_topic[(outcome, topic)] += count

    def total(self, outcome: Outcome) -> int:
        return sum(n for (o, _), n in self.by_topic.items() if o is outcome)
