"""Where per-subject keys and erasure state come from, and an in-memory store for runs without Kafka.

`run` keeps them in each region's compacted Kafka topic (streams/kafka/subjects.py),
so they survive restarts; `explain` and the unit tests use `InMemorySubjectKeys`,
which forgets everything when the process ends.
"""

from __future__ import annotations

from typing import Protocol

from streams.keys.ring import KeyRing
from streams.subjects.tokens import SubjectKey, new_subject_key, subject_ref


class SubjectKeys(Protocol):
    def key_for(self, region: str, subject: str, keys: KeyRing) -> SubjectKey | None:
        """The subject's key in `region`, created on first use; None once the subject is erased."""

    def is_erased(self, region: str, subject: str, keys: KeyRing) -> bool: ...

    def erase(self, subject: str, keys: KeyRing) -> list[str]:
        """Destroy the subject's keys everywhere; the regions where it had keys or state."""

    def any_erased(self) -> bool:
        """Whether any subject was ever erased: while none was, events skip the erasure check."""


class InMemorySubjectKeys:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], SubjectKey] = {}
        self._erased: set[tuple[str, str]] = set()

    def _ref(self, region: str, subject: str, keys: KeyRing) -> tuple[str, str]:
        return (region, subject_ref(keys.for_region(region), subject))

    def key_for(self, region: str, subject: str, keys: KeyRing) -> SubjectKey | None:
        ref = self._ref(region, subject, keys)
        if ref in self._erased:
            return None
        key = self._keys.get(ref)
        if key is None:
            key = self._keys[ref] = new_subject_key(keys.for_region(region))
        return key

    def is_erased(self, region: str, subject: str, keys: KeyRing) -> bool:
        return self._ref(region, subject, keys) in self._erased

    def erase(self, subject: str, keys: KeyRing) -> list[str]:
        touched = []
        for region in keys.regions():
            ref = self._ref(region, subject, keys)
            if self._keys.pop(ref, None) is not None:
                touched.append(region)
            self._erased.add(ref)
        return touched

    def any_erased(self) -> bool:
        return bool(self._erased)
