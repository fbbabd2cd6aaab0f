"""Replay: what a held record becomes under the current policy, decided per record with no Kafka I/O.

A quarantined or dead-lettered record holds an event (or, for a payload no decoder could read,
the whole payload) with the coordinates it came from in its `rg-source-*` headers. Replaying it
runs that value through the pipeline as if it arrived at those coordinates, so the original
topic's pinned format reads it, and then:

- if every event it holds is now decided (routed, or suppressed for an erased subject), they are
  released: their records go where live traffic's would, each carrying `rg-released-from`, and
  their audit entries name the held record they came from (`released_from`);
- otherwise nothing of it is written: it stays held where it is, counted by why.

All or nothing per held record: a payload released in part would leave a record that is both
released and held. streams/kafka/replay.py reads the held topic, writes the releases and a
ledger of released records in one transaction each batch, and skips what the ledger names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streams.audit import audit_record
from streams.outcomes import EventResult, Outcome, Output, Source

HELD_TOPICS = ("quarantine", "dead-letter")
# The header a payload-level dead letter carries: its value is a whole payload, none of whose
# events was written anywhere (streams/outcomes.py).
PAYLOAD_SCOPE = b"payload"
RELEASED_FROM_HEADER = "rg-released-from"
_DECIDED = (Outcome.ROUTED, Outcome.SUPPRESSED)


@dataclass(frozen=True)
class HeldRecord:
    """A record of the quarantine or dead-letter topic, and the coordinates its event came from."""

    topic: str
    partition: int
    offset: int
    source: Source  # where the event (or payload) was read originally
    index: int  # the event's position in its original payload
    whole_payload: bool  # a payload-level dead letter: every event of it is the held record's

    @property
    def ledger_key(self) -> bytes:
        """Its key in the ledger of released records: its own coordinates (topic names hold no colon)."""
        return f"{self.topic}:{self.partition}:{self.offset}".encode()


def held_record(
    topic: str, partition: int, offset: int, headers: list[tuple[str, bytes]] | None
) -> HeldRecord | None:
    """The held record's coordinates from its headers; None when they're missing or unreadable
    (not written by the gateway, or damaged): such a record is left where it is."""
    found = dict(headers or ())
    try:
        source = Source(
            found["rg-source-topic"].decode(),
            int(found["rg-source-partition"]),
            int(found["rg-source-offset"]),
        )
        index = int(found.get("rg-source-index", b"0"))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if not source.topic or source.partition < 0 or source.offset < 0 or index < 0:
        return None
    whole = found.get("rg-source-scope") == PAYLOAD_SCOPE
    return HeldRecord(topic, partition, offset, source, index, whole)


@dataclass
class Release:
    """What replaying one held record writes: its events' records and audit entries; none when still held."""

    outputs: list[Output] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    regions: Counter[str] = field(default_factory=Counter)  # released events per region
    held_as: str | None = None  # why it stays held (a reason class), when it does


def release(held: HeldRecord, results: list[EventResult], policy_hash: str) -> Release:
    """The records to write for `held`, given its value's results under the current policy."""
    chosen = results
    if not held.whole_payload and len(results) > 1:
        # An event kept as its whole payload (it couldn't be written alone): only its own event
        # is the held one; the others were routed when the payload came.
        chosen = [r for r in results if r.index == held.index]
    if not chosen:
        return Release(held_as="unreadable: the held event isn't in its payload")
    for result in chosen:
        if result.outcome not in _DECIDED:
            return Release(held_as=_reason_class(result))
    released = Release()
    mark = (RELEASED_FROM_HEADER, f"{held.topic}:{held.partition}:{held.offset}".encode())
    source = held.source
    for result in chosen:
        # A single held event kept its original position; a whole payload's events have theirs.
        index = result.index if held.whole_payload else held.index
        for out in result.outputs:
            released.outputs.append(out._replace(headers=[*out.headers, mark]))
        entry = result.entry
        assert entry is not None  # a decided result carries its audit entry
        audit = audit_record(entry, source.topic, source.partition, source.offset, index, policy_hash)
        audit["released_from"] = {"topic": held.topic, "partition": held.partition, "offset": held.offset}
        released.audits.append(audit)
        if result.outcome is Outcome.ROUTED and entry.region is not None:
            released.regions[entry.region] += 1
    return released


def _reason_class(result: EventResult) -> str:
    """Why a result isn't decided, as a short class: quarantined's held_as, or the dead letter's stage."""
    if result.outcome is Outcome.QUARANTINED:
        return f"quarantined: {result.held_as or 'undecided'}"
    return f"dead-lettered: {result.held_as or 'unreadable'}"
