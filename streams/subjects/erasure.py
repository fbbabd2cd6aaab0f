"""Erasure: the request format, the subject-key records kept in Kafka, and the state they add up to.

A subject's data keys live on a compacted topic per region, keyed `<ref>/<dek id>`.
Erasure writes a marker keyed `<ref>` (a normal record, so compaction keeps it
for ever) and a tombstone for every key, so compaction removes the keys. The
state is a fold over those records; it is the same whichever worker wrote them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from streams.formats.base import PayloadError
from streams.formats.exact_json import JsonRefused, read_json
from streams.keys.ring import KeyRing, KeyUnavailable, PseudonymKey
from streams.subjects.tokens import SubjectKey, WrappedKeyUnreadable, unwrap

RECORD_FORMAT = 1  # "v" of every subject-store record
MAX_REQUEST_ID = 200  # an audit handle, not a document


# --- requests ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    subject: str = field(repr=False)  # normalized; the person this is about never reaches a log line
    request_id: str | None = None


_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")


def normalize_identifier(value: Any) -> str:
    """A user or anonymous id as one spelling: trimmed, and lowercased if it is an email.

    Collectors send ids as strings or numbers; 42 and "42" are the same person, and an id
    past 64 bits is its digits (str of exact_json.BigInt). A user id that is an email is
    the person of that email in `traits.email`, so it gets the same pseudonym. Erasure
    names subjects with this same spelling (`normalize_subject`), and pseudonyms too.
    """
    text = value.strip() if isinstance(value, str) else str(value)
    return text.lower() if "@" in text and _EMAIL.fullmatch(text) else text  # fullmatch: ~0.35 µs


def normalize_subject(value: str | int) -> str:
    """One spelling per subject, the pseudonyms' own: ids trimmed, emails also lowercased; 42 is "42"."""
    return normalize_identifier(value)


def parse_erasure_request(raw: bytes) -> ErasureRequest:
    """`{"subject": "...", "request_id": "..."}`; other fields are ignored. Errors never echo the subject."""
    try:
        # Exactly: {"subject": "a", "subject": "b"} would otherwise erase b, silently.
        document = read_json(raw)
    except JsonRefused as refused:
        raise PayloadError(f"an erasure request must be JSON ({refused.reason})", stage="erasure") from None
    if not isinstance(document, dict):
        raise PayloadError(
            f"an erasure request must be a JSON object (got {_json_type(document)})", stage="erasure"
        )
    problems = []
    subject = document.get("subject")
    if subject is None:
        problems.append("'subject' is missing")
    elif not isinstance(subject, str):
        problems.append(f"'subject' must be a string (got {_json_type(subject)})")
    elif not normalize_subject(subject):
        problems.append("'subject' is empty")
    request_id = document.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        problems.append(f"'request_id' must be a string (got {_json_type(request_id)})")
    elif request_id is not None and len(request_id) > MAX_REQUEST_ID:
        problems.append(f"'request_id' is longer than {MAX_REQUEST_ID} characters")
    if problems:
        raise PayloadError("; ".join(problems), stage="erasure")
    assert isinstance(subject, str)
    return ErasureRequest(normalize_subject(subject), request_id or None)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# --- records ----------------------------------------------------------------------------------------


class RecordKind(Enum):
    KEY = "key"  # <ref>/<dek id>: a wrapped subject key
    DESTROYED = "destroyed"  # <ref>/<dek id> with no value: the key's tombstone
    ERASED = "erased"  # <ref>: the subject is erased, for ever
    UNERASED = "unerased"  # <ref> with no value: an operator lifted a mistaken erasure
    INVALID = "invalid"  # a key record that can't be read; ignored, counted


@dataclass(frozen=True, slots=True)
class SubjectRecord:
    kind: RecordKind
    region: str
    ref: str
    dek_id: str | None = None
    wrapped: bytes | None = field(default=None, repr=False)
    version: int = 0  # the region key version that wrapped the key
    at: int = 0  # epoch seconds: when the key was created or the subject erased
    reason: str = ""  # why an INVALID record was not read

    @property
    def key(self) -> str:
        return self.ref if self.dek_id is None else f"{self.ref}/{self.dek_id}"


def key_record(region: str, ref: str, wrapped: bytes, subject: SubjectKey, at: int) -> SubjectRecord:
    return SubjectRecord(RecordKind.KEY, region, ref, subject.dek_id, wrapped, subject.wrapped_with, at)


def encode_record(record: SubjectRecord) -> tuple[bytes, bytes | None]:
    """The (Kafka key, value) of a record; the value is None for a tombstone."""
    if record.kind is RecordKind.KEY:
        assert record.wrapped is not None
        value = {
            "v": RECORD_FORMAT,
            "wrapped": _b64(record.wrapped),
            "version": record.version,
            "created": record.at,
        }
        return record.key.encode(), orjson.dumps(value)
    if record.kind is RecordKind.ERASED:
        return record.key.encode(), orjson.dumps({"v": RECORD_FORMAT, "erased": record.at})
    if record.kind in (RecordKind.DESTROYED, RecordKind.UNERASED):
        return record.key.encode(), None
    raise ValueError(f"an {record.kind.value} record is never written")


def decode_record(region: str, key: bytes | None, value: bytes | None) -> SubjectRecord:
    """Read a record back. Fails closed: an unreadable erasure marker still counts as an erasure."""
    text = (key or b"").decode("utf-8", "replace")
    ref, slash, dek_id = text.partition("/")
    if not slash:
        if value is None:
            return SubjectRecord(RecordKind.UNERASED, region, ref)
        erased = _json_field(value, "erased")
        return SubjectRecord(RecordKind.ERASED, region, ref, at=erased if isinstance(erased, int) else 0)
    if value is None:
        return SubjectRecord(RecordKind.DESTROYED, region, ref, dek_id)
    try:
        document = orjson.loads(value)
        wrapped = _unb64(document["wrapped"])
        version, created = document["version"], document["created"]
        if document["v"] != RECORD_FORMAT or not isinstance(version, int) or not isinstance(created, int):
            raise ValueError
    except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError, ValueError):
        reason = "a subject key record is not {v: 1, wrapped, version, created}"
        return SubjectRecord(RecordKind.INVALID, region, ref, dek_id, reason=reason)
    return SubjectRecord(RecordKind.KEY, region, ref, dek_id, wrapped, version, created)


def _json_field(value: bytes, name: str) -> Any:
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return document.get(name) if isinstance(document, dict) else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError
    return base64.b64decode(text, validate=True)


# --- state ------------------------------------------------------------------------------------------


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
