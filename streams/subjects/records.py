"""The subject-key records kept in Kafka: one compacted topic per region.

A subject's data keys live keyed `<ref>/<dek id>`. Erasure writes a marker keyed `<ref>`
(a normal record, so compaction keeps it for ever) and a tombstone for every key, so
compaction removes the keys. tests/golden/subject_store.json pins the format: what is
already in Kafka must stay readable.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from streams.subjects.tokens import SubjectKey

RECORD_FORMAT = 1  # "v" of every subject-store record


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
