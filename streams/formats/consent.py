"""What consent an event carries, read the same way for every collector: one `Consent`.

Each collector writes consent its own way (docs/consent.md has the shapes and their sources), and
each format reads its own (`CollectorFormat.consent`); this module holds what they share. Consent
that is present but can't be read grants nothing (`NOTHING`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Consent:
    granted: frozenset[str]  # category / scope names as the collector wrote them, lower-cased
    denied: frozenset[str]


NOTHING = Consent(frozenset(), frozenset())  # consent present but unreadable: grants nothing

# Few distinct consent objects recur across millions of events, so each reader interns what it
# reads, keyed by the object's JSON: bytes tell `true` from `1`, which dict keys would not.
_INTERNED_MAX = 4096
_interned: dict[bytes, Consent | None] = {}


def interning(read: Callable[[Any], Consent | None]) -> Callable[[Any], Consent | None]:
    """A reader of one consent object that reads each distinct object once."""

    def reader(document: Any) -> Consent | None:
        try:
            key = read.__module__.encode() + read.__name__.encode() + orjson.dumps(document)
        except TypeError:  # not JSON (a tuple, a set): read it as it is
            return read(document)
        try:
            return _interned[key]
        except KeyError:
            if len(_interned) >= _INTERNED_MAX:
                _interned.clear()  # a flood of distinct objects; correctness never depends on the cache
            found = _interned[key] = read(document)
            return found

    return reader


def names(value: Any) -> frozenset[str] | None:
    """A list of names, lower-cased; None when it is there but isn't a list of strings."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return None
    return frozenset(name.lower() for name in value if name)


def merged(found: list[Consent]) -> Consent | None:
    """Several consent documents as one: everything any of them denies stays denied."""
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    # A contradiction fails closed: a scope one document denies is denied.
    return Consent(
        frozenset().union(*(c.granted for c in found)), frozenset().union(*(c.denied for c in found))
    )
