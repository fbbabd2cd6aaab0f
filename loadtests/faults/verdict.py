"""The verdict on one fault run: every input judged by the outputs a read_committed reader saw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtests.faults.events import ID_PATTERN, leaks_in


@dataclass
class Verdict:
    sent: int
    delivered: int
    lost: int
    duplicated: int
    leaked: int
    unidentified: int = 0  # output records no input id could be found in
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "leaked": self.leaked,
        }

    @property
    def passed(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.leaked == 0 and self.unidentified == 0


def judge(
    expected: dict[str, Counter[str]],
    records: Iterable[tuple[str, str | None, bytes]],
    *,
    home_topics: set[str],
    held_topics: set[str],
    audit_topic: str,
    hashes: set[bytes],
) -> Verdict:
    """Compare what each input should have become with the (topic, input id, value) records read.

    An input is lost if any topic it should reach holds fewer copies than expected, and
    duplicated if any topic holds more (a copy in a topic it should never reach counts
    too). A canary, or an unkeyed hash of one, anywhere but the event's home region topic
    or the held topics (quarantine, dead letters) is a leak; an audit record may name the
    event, and nobody.
    """
    home_of = {
        event_id: next((t for t in topics if t in home_topics), None) for event_id, topics in expected.items()
    }
    observed: dict[str, Counter[str]] = {}
    unidentified = leaked = 0
    for topic, event_id, value in records:
        if event_id is None:
            unidentified += 1
            continue
        observed.setdefault(event_id, Counter())[topic] += 1
        if topic in held_topics or topic == home_of.get(event_id):
            continue  # full data where it may be: its home region, or held for review
        if topic == audit_topic:
            value = value.replace(event_id.encode(), b"")
        leaked += leaks_in(value, hashes)
    lost = duplicated = delivered = 0
    for event_id, topics in expected.items():
        seen = observed.get(event_id, Counter())
        short = any(seen[t] < n for t, n in topics.items())
        extra = any(n > topics.get(t, 0) for t, n in seen.items())
        lost += short
        duplicated += extra
        delivered += not short and not extra
    return Verdict(len(expected), delivered, lost, duplicated, leaked, unidentified)


def audited_input(record: Mapping[str, Any], coordinates: Mapping[tuple[int, int], str]) -> str | None:
    """The input an audit entry is about: by the event id it names, else by its source coordinates.

    The run's ids have a generated id's shape, which the audit keeps; an input that couldn't be
    read, or whose id the audit pseudonymized, is found by its coordinates, which the producer's
    delivery reports gave.
    """
    named = ID_PATTERN.fullmatch(str(record.get("event_id") or "").encode())
    if named is not None:
        return named.group().decode()
    source = record.get("source") or {}
    partition, offset = source.get("partition"), source.get("offset")
    if not isinstance(partition, int) or not isinstance(offset, int):
        return None
    return coordinates.get((partition, offset))
