"""What can happen to an event and to each record written for it: defined once, each built in one place.

An event's outcome, which its audit record names:

- routed: decided; its home region's topic gets it (and each destination the region
  transfers to and its consent allows, a copy);
- suppressed: decided, but its subject was erased and the policy suppresses such
  events: nothing is written but the audit record;
- quarantined: no jurisdiction can be read from it: held in the quarantine topic, never guessed;
- dead-lettered: not something the gateway can read: kept in the dead-letter topic with its reason;
- erased: an erasure request applied (a record of the erasure topic).

A record's outcome, a metric label: routed (the home topic), exported (a destination's
copy), quarantined, dead-lettered.

`Outcomes` builds each outcome's records, audit record and counter labels together.
A routed or suppressed event's records are planned by the router (streams/route/plan.py) and
made by the transform stage (streams/transform/records.py); `Outcomes.decided` turns them and their
audit entry into the result.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from streams.audit import AuditedOutput, AuditEntry, audit_record, erasure_record

if TYPE_CHECKING:
    from streams.classify.jurisdiction import Decision
    from streams.config import GatewayConfig
    from streams.formats.base import PayloadError

Headers = list[tuple[str, bytes]]


class Outcome(enum.StrEnum):
    """A str, so an audit record holds the member itself and orjson writes its name: no `.value` per event."""

    ROUTED = "routed"  # the full event, written to its home region's topic
    EXPORTED = "exported"  # a copy for a destination, holding what its allowlist lets leave
    QUARANTINED = "quarantined"  # jurisdiction undecidable: held, never defaulted
    DEAD_LETTERED = "dead-lettered"  # unreadable: kept with its reason and source
    SUPPRESSED = "suppressed"  # an erased subject's event, under erasure.after: suppress (no record)
    ERASED = "erased"  # an erasure request applied (no record)


# Source and Output are made for every record and every output: named tuples, immutable like
# a frozen dataclass at a quarter of its cost to build (a frozen dataclass sets each field
# through object.__setattr__; ~1.3 µs for Output's six, against ~0.3 µs).
class Source(NamedTuple):
    """Where an input record came from: the coordinates that let anyone find it again."""

    topic: str
    partition: int
    offset: int


class Output(NamedTuple):
    topic: str
    value: bytes
    # The region whose topic this is, the destination's name for a copy, or None (quarantine, dead letters).
    region: str | None
    outcome: Outcome
    headers: Headers
    key: bytes | None = None


@dataclass(slots=True)
class EventResult:
    index: int  # position of the event within its payload
    decision: Decision | None  # None when the event couldn't be decoded
    outputs: list[Output]
    error: PayloadError | None = None
    format: str | None = None  # the collector format, when the payload could be decoded
    # The audit record (streams/audit.py): what happened and why, with no personal data.
    audit: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome = Outcome.ROUTED
    # Why a quarantined or dead-lettered event is held, a metric label from the code, never from
    # the event: a decision's `held_as` (no-signal, conflict, ...) or a dead letter's stage (decode, ...).
    held_as: str | None = None
    # The audit record as built, typed: what the engine counts reads it, never the dict's strings.
    entry: AuditEntry | None = None

    @property
    def transforms(self) -> list[str]:
        """How each kept field was transformed, over all the event's records ("pseudonymize", ...)."""
        if self.entry is None:
            return []
        return [how for out in self.entry.outputs for _field, how in out.fields]


class Outcomes:
    """Builds each outcome's records, audit record and counter labels; one per pipeline."""

    def __init__(self, config: GatewayConfig, policy_hash: str) -> None:
        self._quarantine = config.topics.quarantine
        self._dead_letter = config.topics.dead_letter
        self._version = policy_version_header(config)
        self._policy_hash = policy_hash

    def decided(
        self, entry: AuditEntry, outputs: list[Output], decision: Decision, source: Source, index: int
    ) -> EventResult:
        """A routed or suppressed event: the records the transform stage made, with their audit record."""
        audit = audit_record(entry, source.topic, source.partition, source.offset, index, self._policy_hash)
        return EventResult(index, decision, outputs, None, entry.format, audit, entry.outcome, None, entry)

    def quarantined(
        self,
        decision: Decision,
        value: bytes,
        source: Source,
        index: int,
        key: bytes | None,
        event_id: str | None,
        format_name: str,
    ) -> EventResult:
        """An event whose jurisdiction can't be decided, as it came, with the decision's headers."""
        headers = [self._version, *decision.headers, *_coordinates(source, index)]
        held = Output(self._quarantine, value, None, Outcome.QUARANTINED, headers, key)
        entry = AuditEntry(Outcome.QUARANTINED, None, decision.reason, event_id, format_name)
        entry.outputs.append(AuditedOutput(held.topic, "quarantine"))
        audit = audit_record(entry, source.topic, source.partition, source.offset, index, self._policy_hash)
        return EventResult(
            index, decision, [held], None, format_name, audit, Outcome.QUARANTINED, decision.held_as, entry
        )

    def dead_lettered(
        self,
        value: bytes,
        error: PayloadError,
        source: Source,
        index: int,
        key: bytes | None,
        format_name: str | None,
        *,
        whole_payload: bool = False,
    ) -> EventResult:
        """What can't be read (a payload, a batch's event, an erasure request), with why and where from.

        `whole_payload`: the value is a payload none of whose events was read, which rg-source-scope
        says, so a replay (streams/replay.py) releases all its events, not only the first.
        """
        headers = [
            self._version,
            ("rg-error", error.reason.encode()),
            ("rg-stage", error.stage.encode()),
            *_coordinates(source, index),
        ]
        if whole_payload:
            headers.append(("rg-source-scope", b"payload"))
        dead = Output(self._dead_letter, value, None, Outcome.DEAD_LETTERED, headers, key)
        entry = AuditEntry(Outcome.DEAD_LETTERED, None, f"{error.stage}: {error.reason}", None, format_name)
        entry.outputs.append(AuditedOutput(dead.topic, "dead-letter"))
        audit = audit_record(entry, source.topic, source.partition, source.offset, index, self._policy_hash)
        return EventResult(
            index, None, [dead], error, format_name, audit, Outcome.DEAD_LETTERED, error.stage, entry
        )

    def erased(self, request_id: str | None, source: Source, regions: list[str]) -> EventResult:
        """An erasure request applied: nothing to write but its audit record."""
        audit = erasure_record(
            Outcome.ERASED,
            request_id,
            source.topic,
            source.partition,
            source.offset,
            regions,
            self._policy_hash,
        )
        return EventResult(0, None, [], None, None, audit, Outcome.ERASED)


def policy_version_header(config: GatewayConfig) -> tuple[str, bytes]:
    """The policy version every record carries (rg-policy-version)."""
    return ("rg-policy-version", config.policy_version.encode())


def _coordinates(source: Source, index: int) -> Headers:
    return [
        ("rg-source-topic", source.topic.encode()),
        ("rg-source-partition", str(source.partition).encode()),
        ("rg-source-offset", str(source.offset).encode()),
        ("rg-source-index", str(index).encode()),
    ]


class OutcomeCounts:
    """Counts per (outcome, topic). Labels are topic names and outcomes, never event data."""

    def __init__(self) -> None:
        self.by_topic: Counter[tuple[Outcome, str]] = Counter()
