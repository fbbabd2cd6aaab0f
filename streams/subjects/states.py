"""What a region's subject-key records add up to: each subject's keys, or that it was erased.

The state is a fold over the records (streams/subjects/records.py); it is the same whichever
worker wrote them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from streams.keys.ring import KeyRing, KeyUnavailable, PseudonymKey
from streams.subjects.records import RecordKind, SubjectRecord
from streams.subjects.tokens import SubjectKey, WrappedKeyUnreadable, unwrap


@dataclass(slots=True)
class _Dek:
    ref: str
    dek_id: str
    wrapped: bytes = field(repr=False)
    version: int
    created: int
    key: SubjectKey | None = None  # unwrapped on first use, then kept


@dataclass(slots=True)
class _Subject:
    deks: dict[str, _Dek] = field(default_factory=dict)
    erased: bool = False
    current: _Dek | None = None  # the oldest key: every worker picks the same one once it has seen them all

    def choose(self) -> None:
        self.current = min(self.deks.values(), key=lambda d: (d.created, d.dek_id), default=None)


@dataclass(slots=True)
class _Region:
    subjects: dict[str, _Subject] = field(default_factory=dict)
    deks: dict[str, _Dek] = field(default_factory=dict)
    # Keys written for a subject already erased (a worker that hadn't seen the erasure yet): to destroy.
    orphans: dict[str, _Dek] = field(default_factory=dict)


class SubjectStates:
    """Per region: subject ref → its keys and whether it is erased. Folded from subject-store records."""

    def __init__(self) -> None:
        self._regions: dict[str, _Region] = {}
        self.invalid_records = 0
        # Ever erased anyone: until then the gateway skips the per-event erasure check.
        self.any_erased = False

    def apply(self, record: SubjectRecord, unwrapped: SubjectKey | None = None) -> None:
        """Fold one record in; `unwrapped` is the key itself when this worker just created it."""
        region = self._regions.get(record.region) or self._regions.setdefault(record.region, _Region())
        subject = region.subjects.get(record.ref)
        kind = record.kind
        if kind is RecordKind.KEY:
            assert record.dek_id is not None and record.wrapped is not None
            if subject is None:
                subject = region.subjects[record.ref] = _Subject()
            if record.dek_id in subject.deks:
                return  # read back what this worker wrote: keep the key it already holds
            dek = _Dek(record.ref, record.dek_id, record.wrapped, record.version, record.at, unwrapped)
            if subject.erased:
                region.orphans[dek.dek_id] = dek
                return
            subject.deks[dek.dek_id] = dek
            region.deks[dek.dek_id] = dek
            subject.choose()
        elif kind is RecordKind.DESTROYED:
            assert record.dek_id is not None
            region.orphans.pop(record.dek_id, None)
            region.deks.pop(record.dek_id, None)
            if subject is not None and subject.deks.pop(record.dek_id, None) is not None:
                subject.choose()
                self._drop_if_empty(region, record.ref, subject)
        elif kind is RecordKind.ERASED:
            if subject is None:
                subject = region.subjects[record.ref] = _Subject()
            subject.erased = True
            self.any_erased = True
            # Memory forgets at once. Keys the eraser hadn't seen (another worker made them meanwhile)
            # become orphans, so they get tombstones too; the eraser's own tombstones cancel them.
            for dek_id, dek in subject.deks.items():
                region.deks.pop(dek_id, None)
                region.orphans[dek_id] = dek
            subject.deks.clear()
            subject.current = None
        elif kind is RecordKind.UNERASED:
            if subject is not None:
                subject.erased = False
                self._drop_if_empty(region, record.ref, subject)
        else:
            self.invalid_records += 1

    def key_for(self, region: str, ref: str, region_keys: PseudonymKey | KeyRing) -> SubjectKey | None:
        """The subject's current key; None when it has none or is erased.

        `region_keys` opens keys wrapped under any version still in its overlap window
        (a KeyRing), or under that one version only (a PseudonymKey).
        """
        state = self._regions.get(region)
        subject = state.subjects.get(ref) if state is not None else None
        dek = subject.current if subject is not None else None
        if dek is None:
            return None
        return dek.key if dek.key is not None else _unwrapped(dek, _wrapping_key(region, dek, region_keys))

    def key_by_id(self, region: str, dek_id: str, region_keys: PseudonymKey | KeyRing) -> SubjectKey | None:
        """The key a token names, for detokenizing; None once destroyed or its key version is gone."""
        state = self._regions.get(region)
        dek = state.deks.get(dek_id) if state is not None else None
        if dek is None:
            return None
        if dek.key is not None:
            return dek.key
        if isinstance(region_keys, PseudonymKey) and dek.version != region_keys.version:
            return None
        try:
            return _unwrapped(dek, _wrapping_key(region, dek, region_keys))
        except KeyUnavailable:
            return None  # its version retired: the token can't be read any more

    def is_erased(self, region: str, ref: str) -> bool:
        state = self._regions.get(region)
        subject = state.subjects.get(ref) if state is not None else None
        return subject is not None and subject.erased

    def known(self, region: str, ref: str) -> bool:
        """Whether there is any state for the subject: keys or an erasure."""
        state = self._regions.get(region)
        return state is not None and ref in state.subjects

    def dek_ids(self, region: str, ref: str) -> list[str]:
        state = self._regions.get(region)
        subject = state.subjects.get(ref) if state is not None else None
        return sorted(subject.deks) if subject is not None else []

    def take_orphans(self) -> Iterator[SubjectRecord]:
        """Tombstones for keys written to subjects already erased; each is handed out once."""
        for name, region in self._regions.items():
            orphans, region.orphans = region.orphans, {}
            for dek in orphans.values():
                yield SubjectRecord(RecordKind.DESTROYED, name, dek.ref, dek.dek_id)

    @staticmethod
    def _drop_if_empty(region: _Region, ref: str, subject: _Subject) -> None:
        if not subject.deks and not subject.erased:
            del region.subjects[ref]


def _wrapping_key(region: str, dek: _Dek, region_keys: PseudonymKey | KeyRing) -> PseudonymKey:
    """The region key version the subject key was wrapped under (KeyUnavailable once retired)."""
    if isinstance(region_keys, PseudonymKey):
        return region_keys
    return region_keys.version(region, dek.version)


def _unwrapped(dek: _Dek, region_key: PseudonymKey) -> SubjectKey:
    try:
        dek.key = unwrap(region_key, dek.wrapped)
    except WrappedKeyUnreadable as exc:
        # Fail closed: a key that doesn't open means the wrong region key was loaded, not a new subject.
        raise KeyUnavailable(f"subject key {dek.dek_id}: {exc}") from None
    if dek.key.dek_id != dek.dek_id:
        raise KeyUnavailable(f"subject key {dek.dek_id} was stored under another key id")
    return dek.key
