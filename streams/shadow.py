"""Shadowing: how a candidate policy would treat each event differently from the active one.

Both policies decide the same payload at the same coordinates; their results are paired by the
event's position in the payload. For each event the comparison names what would change:

- its fate: the region it goes to, or quarantine, dead letters, suppression (`eu -> us`,
  `quarantine -> eu`); newly quarantined and newly released events are counted apart too;
- per destination, a copy that appears or disappears;
- per destination, the fields a copy would newly carry, by path (`context.ip`, `traits.email`).

Reports hold counts, event ids (the audit's: an id that could be personal data is a pseudonym or
the event's coordinates) and field paths: never a value. `explain --compare` runs it over files and
`shadow` (streams/kafka/shadow.py) over live traffic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.outcomes import EventResult, Outcome, Source
from streams.pipeline import Pipeline

EXAMPLES = 3  # event ids kept per change
NOT_JSON = "(a copy that isn't JSON: its fields aren't compared)"


@dataclass(frozen=True)
class Fate:
    """What one policy does with one event."""

    place: str  # the region, or "quarantine", "dead-letter", "suppressed"
    copies: dict[str, frozenset[str]]  # destination topic → the leaf paths its copy carries
    event_id: str


def fate_of(result: EventResult) -> Fate:
    outcome = result.outcome
    if outcome is Outcome.QUARANTINED:
        place = "quarantine"
    elif outcome is Outcome.DEAD_LETTERED:
        place = "dead-letter"
    elif outcome is Outcome.SUPPRESSED:
        place = "suppressed"
    else:
        place = result.entry.region if result.entry is not None and result.entry.region else "?"
    copies = {out.topic: _paths(out.value) for out in result.outputs if out.outcome is Outcome.EXPORTED}
    return Fate(place, copies, str(result.audit.get("event_id", "?")))


def _paths(value: bytes) -> frozenset[str]:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return frozenset({NOT_JSON})
    found: set[str] = set()
    _walk(document, "", found)
    return frozenset(found)


def _walk(node: Any, prefix: str, found: set[str]) -> None:
    if isinstance(node, dict):
        if not node and prefix:
            found.add(prefix)
        for key, value in node.items():
            _walk(value, f"{prefix}.{key}" if prefix else str(key), found)
    elif isinstance(node, list):
        for item in node:
            _walk(item, f"{prefix}[]", found)
        if not node and prefix:
            found.add(prefix)
    elif node is not None and prefix:
        found.add(prefix)  # a null carries nothing


@dataclass
class Change:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, event_id: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(event_id)


@dataclass
class Comparison:
    """The differences over every event compared so far."""

    events: int = 0
    changed: int = 0
    moves: dict[str, Change] = field(default_factory=dict)  # "from -> to"
    newly_quarantined: dict[str, Change] = field(default_factory=dict)  # by the active place
    newly_released: dict[str, Change] = field(default_factory=dict)  # by the candidate's region
    copies_appear: dict[str, Change] = field(default_factory=dict)  # by destination topic
    copies_disappear: dict[str, Change] = field(default_factory=dict)
    newly_exported: dict[str, dict[str, Change]] = field(default_factory=dict)  # topic → path →

    def add(self, active: Fate | None, candidate: Fate | None) -> None:
        """One event's fates; None where a policy's decoding didn't reach it (read as a dead letter)."""
        self.events += 1
        before = active or Fate("dead-letter", {}, candidate.event_id if candidate else "?")
        after = candidate or Fate("dead-letter", {}, before.event_id)
        event_id = after.event_id if after.event_id != "?" else before.event_id
        changed = False
        if before.place != after.place:
            changed = True
            _at(self.moves, f"{before.place} -> {after.place}").add(event_id)
            if after.place == "quarantine":
                _at(self.newly_quarantined, before.place).add(event_id)
            elif before.place == "quarantine" and after.place not in ("dead-letter", "suppressed"):
                _at(self.newly_released, after.place).add(event_id)
        for topic in after.copies.keys() - before.copies.keys():
            changed = True
            _at(self.copies_appear, topic).add(event_id)
        for topic in before.copies.keys() - after.copies.keys():
            changed = True
            _at(self.copies_disappear, topic).add(event_id)
        for topic, paths in after.copies.items():
            new = paths - before.copies.get(topic, frozenset())
            for path in new:
                changed = True
                _at(self.newly_exported.setdefault(topic, {}), path).add(event_id)
        self.changed += changed

    def report(self) -> dict[str, Any]:
        def listed(changes: dict[str, Change]) -> dict[str, Any]:
            ordered = sorted(changes.items(), key=lambda item: (-item[1].count, item[0]))
            return {name: {"events": c.count, "examples": c.examples} for name, c in ordered}

        return {
            "events": self.events,
            "changed": self.changed,
            "moves": listed(self.moves),
            "newly_quarantined": listed(self.newly_quarantined),
            "newly_released": listed(self.newly_released),
            "copies_appear": listed(self.copies_appear),
            "copies_disappear": listed(self.copies_disappear),
            "newly_exported_fields": {
                topic: listed(paths) for topic, paths in sorted(self.newly_exported.items())
            },
        }


def _at(changes: dict[str, Change], name: str) -> Change:
    change = changes.get(name)
    if change is None:
        change = changes[name] = Change()
    return change


def compare_payload(
    active: Pipeline,
    candidate: Pipeline,
    raw: bytes,
    source: Source,
    comparison: Comparison,
    key: bytes | None = None,
) -> None:
    """Decide `raw` under both policies and add each event's differences to `comparison`."""
    before = {r.index: fate_of(r) for r in active.process(raw, source, key)}
    after = {r.index: fate_of(r) for r in candidate.process(raw, source, key)}
    for index in sorted(before.keys() | after.keys()):
        comparison.add(before.get(index), after.get(index))


def compare_lines(active: Pipeline, candidate: Pipeline, lines: Iterable[bytes], topic: str) -> Comparison:
    """`explain --compare`: each line a payload, as if read from `topic`."""
    comparison = Comparison()
    for number, line in enumerate(lines, start=1):
        compare_payload(active, candidate, line.rstrip(b"\r\n"), Source(topic, 0, number), comparison)
    return comparison


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The report as a few readable lines: for the live table and the end of `explain --compare`."""
    lines = [f"events {report['events']}, changed {report['changed']}"]
    for title, name in (
        ("moves", "moves"),
        ("newly quarantined from", "newly_quarantined"),
        ("newly released to", "newly_released"),
        ("copies appear", "copies_appear"),
        ("copies disappear", "copies_disappear"),
    ):
        for what, change in report[name].items():
            lines.append(f"  {title:<24} {what:<30} {change['events']:>8}")
    for topic, paths in report["newly_exported_fields"].items():
        for path, change in paths.items():
            lines.append(f"  {'newly exported':<24} {topic + ': ' + path:<30} {change['events']:>8}")
    return lines
