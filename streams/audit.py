"""The audit trail: an entry per event, saying what happened to it and why, with no personal data in it.

The entries are written one audit record per batch per source partition (`audit_records`),
which lists each event's entry; `audit_entries` reads a record back into the entries'
one-per-event form, the form `explain` prints (docs/audit.md).

An entry names the event (the collector's event id, else its source coordinates), where it
came from, the region and reason, each output with the fields transformed and how,
the key version, and the hash of the rules in force. Reasons name countries and
field paths, never values; event ids are kept only when they look like the random
ids collectors generate, so an app that put an email there doesn't leak it here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from streams.outcomes import Outcome  # which imports this module

# Collectors generate their event ids: UUIDs (36 characters), ULIDs (26), nanoids (21),
# `ajs-next-` and a hash. A person writes names, handles and short codes (`john.smith`,
# `jd8812`). So an id leaves as it is only with a generated id's shape: 16 to 128 URL-safe
# characters with a digit in them, and not only digits, hex, dots and colons, which may be an
# IP address, a phone number or a hashed email.
_GENERATED_ID = re.compile(r"(?=[^0-9]*[0-9])[A-Za-z0-9._:-]{16,128}")
_PERSONAL_LOOKING_ID = re.compile(r"[0-9A-Fa-f.:]+")


@dataclass(slots=True)
class CopyReport:
    """What one copy did to one event, for the audit: field labels and counts, never values."""

    fields: list[tuple[str, str]] = field(default_factory=list)  # (field, transform) of what was kept
    found_in_text: dict[str, int] = field(default_factory=dict)  # kind → occurrences replaced
    key_version: int | None = None
    dropped: list[str] = field(default_factory=list)  # paths an allowlist didn't name, or a rule dropped
    dropped_more: int = 0  # dropped paths past the ones listed
    # The event's own identifying values the copy gathered ((kind, value)); never written anywhere,
    # they let the audit record check the event's id without reading the event again.
    own: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class AuditedOutput:
    topic: str
    form: str  # "full", a field-rules name, "quarantine" or "dead-letter"
    fields: list[tuple[str, str]] = field(default_factory=list)
    found_in_text: dict[str, int] = field(default_factory=dict)
    dropped: list[str] | None = None  # None: a copy that keeps what it doesn't transform (no allowlist)
    dropped_more: int = 0


@dataclass(slots=True)
class AuditEntry:
    outcome: Outcome  # an event's: routed, suppressed, quarantined or dead-lettered
    region: str | None
    reason: str
    event_id: str | None = None
    format: str | None = None
    outputs: list[AuditedOutput] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # destinations consent kept the event from
    key_version: int | None = None


def looks_generated(event_id: str) -> bool:
    """Whether an id has the shape of the ids collectors generate, not of a name, an IP, a phone or a hash."""
    return _GENERATED_ID.fullmatch(event_id) is not None and _PERSONAL_LOOKING_ID.fullmatch(event_id) is None


def erasure_record(
    outcome: Outcome,
    request_id: str | None,
    topic: str,
    partition: int,
    offset: int,
    regions: list[str],
    policy_hash: str,
) -> dict[str, Any]:
    """The audit record of an applied erasure request: where it came from and which regions held keys."""
    return {
        # A request id is the requester's free text: an email there must not reach the audit.
        "event_id": audit_event_id(request_id, topic, partition, offset, 0),
        "source": {"topic": topic, "partition": partition, "offset": offset, "index": 0},
        "outcome": outcome,  # a StrEnum: written as its string
        "outputs": [],  # as every audit record lists them: an erasure writes no event
        "regions_with_keys": regions,
        "policy_hash": policy_hash,
    }


def audit_event_id(event_id: str | None, topic: str, partition: int, offset: int, index: int) -> str:
    """The event's own id when it can't be personal data; otherwise its source coordinates."""
    if event_id is None or not looks_generated(event_id):
        return f"{topic}:{partition}:{offset}:{index}"
    return event_id


def audit_record(
    entry: AuditEntry, topic: str, partition: int, offset: int, index: int, policy_hash: str
) -> dict[str, Any]:
    return {
        "event_id": audit_event_id(entry.event_id, topic, partition, offset, index),
        "source": {"topic": topic, "partition": partition, "offset": offset, "index": index},
        "format": entry.format,
        "outcome": entry.outcome,  # a StrEnum: written as its string
        "region": entry.region,
        "reason": entry.reason,
        "outputs": [
            {
                "topic": out.topic,
                "form": out.form,
                "transformed": [{"field": name, "transform": how} for name, how in out.fields],
                "found_in_text": out.found_in_text,
                **({} if out.dropped is None else {"dropped": out.dropped}),
                **({"dropped_more": out.dropped_more} if out.dropped_more else {}),
            }
            for out in entry.outputs
        ],
        "withheld_by_consent": entry.withheld,
        "key_version": entry.key_version,
        "policy_hash": policy_hash,
    }


# --- the audit record: one per batch per source partition -------------------------------------------

AUDIT_RECORD_VERSION = 1
# A record stays well below Kafka's default 1 MB limit on a message (message.max.bytes): a
# larger batch's entries go into several records, each naming its own offsets.
MAX_AUDIT_RECORD_BYTES = 512 * 1024
_SOURCE_FIELDS = ("source", "policy_hash")


def audit_records(
    topic: str, partition: int, entries: Sequence[dict[str, Any]], policy_hash: str
) -> Iterator[tuple[bytes, bytes]]:
    """The audit records of one batch's events from one source partition: (key, value) pairs.

    `entries` are the events' audit entries in offset order (`audit_record`, `erasure_record`).
    What all of them share, the source topic and partition and the policy hash, is written
    once; each entry keeps the rest, with its offset and index in front. The key is
    `<topic>:<partition>:<first offset>-<last offset>` (topic names can't hold a colon), so a
    reader looking for an event by its source coordinates reads keys, and decodes one value.
    """
    chunk: list[bytes] = []
    size = 0
    first = last = -1
    for entry in entries:
        source = entry["source"]
        compact = {"offset": source["offset"], "index": source["index"]}
        for name, value in entry.items():
            if name not in _SOURCE_FIELDS or (name == "policy_hash" and value != policy_hash):
                compact[name] = value
        encoded = orjson.dumps(compact)
        if chunk and size + len(encoded) > MAX_AUDIT_RECORD_BYTES:
            yield _audit_record(topic, partition, first, last, policy_hash, chunk)
            chunk, size = [], 0
        if not chunk:
            first = source["offset"]
        last = source["offset"]
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield _audit_record(topic, partition, first, last, policy_hash, chunk)


def _audit_record(
    topic: str, partition: int, first: int, last: int, policy_hash: str, entries: list[bytes]
) -> tuple[bytes, bytes]:
    head = orjson.dumps(
        {
            "audit_record": AUDIT_RECORD_VERSION,
            "source": {"topic": topic, "partition": partition, "first_offset": first, "last_offset": last},
            "policy_hash": policy_hash,
            "entries": [],
        }
    )
    # The entries were serialized one by one, to size the record as it grew: spliced in, not
    # serialized again. "entries" is the last key, so the head ends with its empty list.
    assert head.endswith(b"[]}")
    value = b"".join((head[:-2], b",".join(entries), b"]}"))
    return f"{topic}:{partition}:{first}-{last}".encode(), value


def audit_entries(value: bytes) -> list[dict[str, Any]]:
    """The entries an audit record lists, each in its one-per-event form (as `explain` prints it).

    Raises ValueError for a value that isn't an audit record of a version this code reads.
    """
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not an audit record: {error}") from None
    if not isinstance(record, dict) or record.get("audit_record") != AUDIT_RECORD_VERSION:
        raise ValueError(f"not an audit record of version {AUDIT_RECORD_VERSION}")
    source, policy_hash = record["source"], record["policy_hash"]
    topic, partition = source["topic"], source["partition"]
    entries = []
    for compact in record["entries"]:
        offset, index = compact.pop("offset"), compact.pop("index")
        entry: dict[str, Any] = {}
        for name, value_ in compact.items():
            entry[name] = value_
            if name == "event_id":  # where the one-per-event form has it: right after the id
                entry["source"] = {"topic": topic, "partition": partition, "offset": offset, "index": index}
        entry.setdefault("source", {"topic": topic, "partition": partition, "offset": offset, "index": index})
        entry.setdefault("policy_hash", policy_hash)
        entries.append(entry)
    return entries
