"""What every collector format provides, and the plain data a decoded payload becomes."""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar

from streams.formats.allowlist import Obj
from streams.formats.consent import Consent
from streams.formats.exact_json import MAX_WRITTEN_DEPTH, write_json

# Keys (and list positions) from the event's root to a field, e.g. ("context", "ip").
Path = tuple[str | int, ...]
# The jurisdiction signals, in the order a `Signals` tuple holds them. Precedence is policy, not this order.
SIGNAL_NAMES = ("declared", "upstream_country", "ip", "locale", "timezone")


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A signal field that is present but holds no string: what was there, never its value."""

    problem: str  # e.g. "a JSON array, not a string"


# One piece of evidence: the string found (or why it can't be read) and the field it was found in.
Evidence = tuple[str | Unreadable, str]
# Every piece of evidence an event carries for one signal, in field order; () when it carries none.
SignalEvidence = tuple[Evidence, ...]
# One slot per name in SIGNAL_NAMES.
Signals = tuple[SignalEvidence, SignalEvidence, SignalEvidence, SignalEvidence, SignalEvidence]
NO_SIGNALS: Signals = ((), (), (), (), ())
# Adds what one signal field of an event holds to a list of evidence: (event, path, label, into).
EvidenceReader = Callable[[dict[str, Any], Path, str, list[Evidence]], None]


class PayloadError(Exception):
    """A payload or event the gateway can't process.

    The message names the problem and never echoes the payload, because the
    dead-letter topic and the logs sit outside the event's home region.
    """

    def __init__(self, reason: str, stage: str = "decode") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@dataclass(slots=True)
class DecodedEvent:
    """One event of a payload, with the payload-level context it needs to be written back."""

    index: int  # position in the payload
    body: Any  # the event's JSON object; when `error` is set, whatever the item was
    error: PayloadError | None = None
    # The exact bytes to write for the full event, when the payload *is* this event.
    raw: bytes | None = None


@dataclass(slots=True)
class Payload:
    format: CollectorFormat
    envelope: dict[str, Any]  # the payload document; batch formats keep their wrapper here
    events: list[DecodedEvent]


@dataclass(frozen=True, slots=True)
class SignalFields:
    """Where a format's events carry each jurisdiction signal; every field of a signal is read, in order."""

    declared: tuple[Path, ...] = ()
    upstream_country: tuple[Path, ...] = ()
    ip: tuple[Path, ...] = ()
    locale: tuple[Path, ...] = ()
    timezone: tuple[Path, ...] = ()

    def in_order(self) -> tuple[tuple[Path, ...], ...]:
        return (self.declared, self.upstream_country, self.ip, self.locale, self.timezone)


# The kinds of personal field a transform rule names. A format lists where its events keep each.
PERSONAL_KINDS = ("user_id", "anonymous_id", "email", "phone", "name", "ip", "geo", "user_agent", "timestamp")
# Within a path, this stands for every element of a list (Snowplow's entities).
EACH = "*"


@dataclass(frozen=True, slots=True)
class PersonalFields:
    """Where a format's events keep each kind of personal field (see PERSONAL_KINDS)."""

    user_id: tuple[Path, ...] = ()
    anonymous_id: tuple[Path, ...] = ()
    email: tuple[Path, ...] = ()
    phone: tuple[Path, ...] = ()
    name: tuple[Path, ...] = ()
    ip: tuple[Path, ...] = ()
    geo: tuple[Path, ...] = ()
    user_agent: tuple[Path, ...] = ()
    timestamp: tuple[Path, ...] = ()
    # Subtrees that describe the person (traits, user properties, entities): every value in them
    # is the person's own, and the value scan looks for it in whatever a copy keeps.
    trait_containers: tuple[Path, ...] = ()

    def by_kind(self) -> dict[str, tuple[Path, ...]]:
        return {kind: getattr(self, kind) for kind in PERSONAL_KINDS}


def path_text(path: Path) -> str:
    """A path as people write it in config and read it in `explain`: context.ip, events.0.params."""
    return ".".join(str(part) for part in path)


class CollectorFormat(ABC):
    """A collector's wire format. Instances are stateless after construction and shared by threads."""

    name: ClassVar[str]
    # Most collectors send JSON: `decode` parses it once and asks each format whether it `matches`.
    # A text format (enriched TSV) says False here and claims raw bytes with `matches_text`.
    reads_json: ClassVar[bool] = True
    # Where this format's events keep the jurisdiction signals; the policy may override per signal.
    fields: SignalFields = SignalFields()
    # Where this format keeps personal fields, by kind; the transforms read these.
    personal: PersonalFields = PersonalFields()
    # What a copy that leaves its region may keep (streams/formats/allowlist.py); by default nothing.
    allowed: Obj = Obj({})
    # The collector's consent categories that grant each purpose by default (the policy's
    # consent.purposes replaces them). A purpose a format doesn't list is ungated for it: the
    # collector can't express it.
    consent_categories: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        """The consent the event carries; None when it carries none (the policy's `when_absent` decides).

        Consent present but unreadable (a string where an object belongs, a value that isn't the
        collector's "yes") grants nothing. A format with no consent convention carries none.
        """
        return None

    def __init__(self) -> None:
        self._signal_paths = self._readers(self.fields)

    @abstractmethod
    def matches(self, document: dict[str, Any]) -> bool:
        """Whether a decoded JSON payload is of this format."""

    def matches_text(self, raw: bytes) -> bool:
        """Whether a payload that is not a JSON object is of this (text) format."""
        return False

    @abstractmethod
    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        """The payload's events, each checked; raises PayloadError if the payload itself is unusable.

        For a text format `document` is empty and the format parses `raw` itself.
        """

    @abstractmethod
    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        """Serialize one event as a payload of this format, so downstream tools read it unchanged."""

    def signals(self, event: dict[str, Any]) -> Signals:
        """The jurisdiction evidence the event carries, one slot per signal (see SIGNAL_NAMES)."""
        found: list[SignalEvidence] = []
        for candidates in self._signal_paths:
            if not candidates:  # a signal the policy doesn't use
                found.append(())
                continue
            evidence: list[Evidence] = []
            for read, path, label in candidates:
                read(event, path, label, evidence)
            found.append(tuple(evidence))
        return (found[0], found[1], found[2], found[3], found[4])

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        """How to read `signal` at `path`; formats whose events nest documents (Snowplow) choose.

        Chosen once per field when the format is built, so reading an event dispatches nothing.
        A declaration is read by `read_declared`: the app chose to say it, so it counts in any case.
        """
        return read_declared if signal == "declared" else read_evidence

    def expanded(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with encoded documents inside it decoded, so transforms can reach their fields.

        Snowplow carries context entities as JSON strings or base64; a transform must see
        into them, and `compacted` writes them back. The input is never mutated.
        """
        return event

    def compacted(self, event: dict[str, Any]) -> dict[str, Any]:
        """The inverse of `expanded`: decoded documents written back as the format carries them."""
        return event

    def event_id(self, event: dict[str, Any]) -> str | None:
        """The id the collector gave the event, if any (for the audit trail)."""
        return None

    def with_fields(self, fields: SignalFields) -> CollectorFormat:
        """A copy of this format that reads the signals from other fields (the policy's override)."""
        changed = copy.copy(self)
        changed.fields = fields
        # An IP read from another field is still an IP: a copy that leaves must transform it too.
        ips = tuple(dict.fromkeys((*self.personal.ip, *fields.ip)))
        changed.personal = dataclasses.replace(self.personal, ip=ips)
        changed._signal_paths = changed._readers(fields)
        return changed

    def _readers(self, fields: SignalFields) -> tuple[tuple[tuple[EvidenceReader, Path, str], ...], ...]:
        return tuple(
            tuple((self.evidence_reader(signal, path), path, path_text(path)) for path in paths)
            for signal, paths in zip(SIGNAL_NAMES, fields.in_order(), strict=True)
        )


def json_bytes(value: Any) -> bytes:
    """An event (or a document inside one) written as JSON, for the formats' `encode`.

    Integers past 64 bits are written with the digits they were read with (exact_json.BigInt).
    Decoding refuses what nests deeper than this writes; a transform that nested an event
    deeper would otherwise escape as a bare TypeError ("internal error" in the dead letters).
    """
    try:
        return write_json(value)
    except TypeError:
        raise PayloadError(
            f"event nests deeper than {MAX_WRITTEN_DEPTH} levels and can't be written back as JSON",
            stage="transform",
        ) from None


def read_evidence(
    document: Any,
    path: Path,
    label: str | None,
    into: list[Evidence],
    above: Path = (),
    null_at: int = -1,
) -> None:
    """Add to `into` what `path` holds in `document` (itself at `above` in the event) as evidence.

    Absent or null is no evidence, except a null at path position `null_at` (see `read_declared`).
    Anything else that isn't a string, at the field or on the way to it (a string where an
    object is needed), is evidence that can't be read: the signal is present, so the event
    must not be decided as if it weren't. EACH in `path` reads every element of a list. A
    None label is the path's own text.
    """
    node = document
    for depth, key in enumerate(path):
        if isinstance(node, dict) and key != EACH:
            child = node.get(key)
            if child is None:
                if depth == null_at and key in node:
                    _add_null(above, path, depth, label, into)
                return
            node = child
            continue
        if node is None:
            return
        here = (*above, *path[:depth])
        if key == EACH and isinstance(node, list):
            for index, item in enumerate(node):
                read_evidence(item, path[depth + 1 :], None, into, (*here, index), null_at - depth - 1)
            return
        if isinstance(node, list) and isinstance(key, int):
            node = node[key] if -len(node) <= key < len(node) else None
            if node is None:
                if depth == null_at:
                    _add_null(above, path, depth, label, into)
                return
            continue
        needed = "an array" if isinstance(key, int) or key == EACH else "an object"
        problem = Unreadable(f"{path_text(here) or 'the event'} is {json_kind(node)}, not {needed}")
        into.append((problem, _label(above, path, label)))
        return
    if node is None:
        return
    evidence = node if isinstance(node, str) else _NOT_A_STRING.get(type(node)) or _not_a_string(node)
    into.append((evidence, _label(above, path, label)))


def read_declared(
    document: Any,
    path: Path,
    label: str | None,
    into: list[Evidence],
    above: Path = (),
    null_at: int | None = None,
) -> None:
    """`read_evidence` for a declaration: its keys match in any case, and a null at the field holds.

    The field is path position `null_at` (the last unless said; GA4's user property is the
    one before `value`). Any key of the path that is absent is looked for in another case
    (`context.Residency`); the field is also looked for in other cases when present, so
    `residency` and `Residency` are two findings, which conflict if they disagree. A null at
    the field is present evidence that can't be read: the app sent the key to say something.
    Nulls on the way to it are absence.
    """
    null_at = len(path) - 1 if null_at is None else null_at
    node = document
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or not isinstance(key, str) or key == EACH:
            read_evidence(node, path[depth:], None, into, (*above, *path[:depth]), null_at - depth)
            return
        child = node.get(key)
        if child is None:
            if depth == null_at and key in node:
                _add_null(above, path, depth, label, into)
                return
            # Absent (or a null container): other spellings, if any key holds the name at all.
            if key.lower() not in "\0".join(node).lower():
                return
            names = tuple(name for name in spellings(node, key) if name != key)
        elif depth != null_at or not _spelled_twice(node, key):
            node = child  # the common case: one dict lookup
            continue
        else:
            names = spellings(node, key)
        here = (*above, *path[:depth])
        for name in names:  # each spelling is a field of its own, named as it is
            read_declared({name: node[name]}, (name, *path[depth + 1 :]), None, into, here, null_at - depth)
        return
    evidence = node if isinstance(node, str) else _NOT_A_STRING.get(type(node)) or _not_a_string(node)
    into.append((evidence, _label(above, path, label)))


def spellings(node: dict[str, Any], key: str) -> tuple[str, ...]:
    """The keys of `node` that are `key` in any case, in the object's order.

    Only ASCII keys: str.lower() folds some other letters (the Kelvin sign) into ASCII ones.
    """
    lowered = key.lower()
    return tuple(
        name for name in node if len(name) == len(key) and name.isascii() and name.lower() == lowered
    )


def _spelled_twice(node: dict[str, Any], key: str) -> bool:
    # In one joined, lower-cased string (C speed); a key that merely contains the name
    # (residency_source) only costs a closer look.
    return len(node) > 1 and "\0".join(node).lower().count(key.lower()) > 1


def _add_null(above: Path, path: Path, depth: int, label: str | None, into: list[Evidence]) -> None:
    if depth == len(path) - 1:
        problem = _NOT_A_STRING[type(None)]
    else:
        following = path[depth + 1]
        needed = "an array" if isinstance(following, int) or following == EACH else "an object"
        problem = Unreadable(f"{path_text((*above, *path[: depth + 1]))} is JSON null, not {needed}")
    into.append((problem, _label(above, path, label)))


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, for a reason that must not quote it: "a JSON array"."""
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    return _JSON_KINDS.get(type(value), "a JSON value")


_JSON_KINDS = {dict: "a JSON object", list: "a JSON array", str: "a JSON string", type(None): "JSON null"}
# Interned: a flood of malformed events makes a few distinct findings, not one per event.
_NOT_A_STRING = {
    kind: Unreadable(f"{json_kind(example)}, not a string")
    for kind, example in ((dict, {}), (list, []), (bool, True), (int, 0), (float, 0.0), (type(None), None))
}


def _not_a_string(value: Any) -> Unreadable:
    return Unreadable(f"{json_kind(value)}, not a string")


def _label(above: Path, path: Path, label: str | None) -> str:
    return label if label is not None else _label_of((*above, *path))


@lru_cache(maxsize=4096)
def _label_of(path: Path) -> str:
    # Entities' labels hold list positions: few distinct ones, computed per event otherwise.
    return path_text(path)


def get_path(document: Any, path: Path) -> Any:
    node: Any = document
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int):
            node = node[key] if -len(node) <= key < len(node) else None
        else:
            return None
        if node is None:
            return None
    return node


def parse_path(text: str) -> Path:
    """`context.headers.cf-ipcountry` → ("context", "headers", "cf-ipcountry"); digits index lists."""
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))
