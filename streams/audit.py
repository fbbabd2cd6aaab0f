"""The audit record: one per event, saying what happened to it and why, with no personal data in it.

It names the event (the collector's event id, else its source coordinates), where it
came from, the region and reason, each output with the fields transformed and how,
the key version, and the hash of the rules in force. Reasons name countries and
field paths, never values; event ids are kept only when they look like the random
ids collectors generate, so an app that put an email there doesn't leak it here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
