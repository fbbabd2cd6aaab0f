"""What every collector format provides, and the plain data a decoded payload becomes."""

from __future__ import annotations

import copy
import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from streams.formats.exact_json import MAX_WRITTEN_DEPTH, write_json

# Keys (and list positions) from the event's root to a field, e.g. ("context", "ip").
Path = tuple[str | int, ...]
# The jurisdiction signals, in the order a `Signals` tuple holds them. Precedence is policy, not this order.
SIGNAL_NAMES = ("declared", "upstream_country", "ip", "locale", "timezone")
# One piece of evidence: the value found and the field it was found in (for `explain`).
Evidence = tuple[str, str]
# One slot per name in SIGNAL_NAMES; None where the event doesn't carry that signal.
Signals = tuple[Evidence | None, Evidence | None, Evidence | None, Evidence | None, Evidence | None]
NO_SIGNALS: Signals = (None, None, None, None, None)


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
    """Where a format's events carry each jurisdiction signal; within a signal, the first field found wins."""

    declared: tuple[Path, ...] = ()
    upstream_country: tuple[Path, ...] = ()
    ip: tuple[Path, ...] = ()
    locale: tuple[Path, ...] = ()
    timezone: tuple[Path, ...] = ()

    def in_order(self) -> tuple[tuple[Path, ...], ...]:
        return (self.declared, self.upstream_country, self.ip, self.locale, self.timezone)


# The kinds of personal field a transform rule names. A format lists where its events keep each.
PERSONAL_KINDS = ("user_id", "anonymous_id", "email", "phone", "name", "ip", "geo", "user_agent", "timestamp")
# Keys that name a person's details wherever they sit inside a trait container (traits, user
# properties, context entities): the value is a name, unlike `properties.name` of a page view.
PERSON_KEYS = frozenset(
    {
        "name", "first_name", "firstName", "firstname", "last_name", "lastName", "lastname",
        "full_name", "fullName", "given_name", "givenName", "family_name", "familyName",
        "middle_name", "middleName", "display_name", "displayName", "username", "userName",
        "nickname", "address", "street", "street_address", "streetAddress", "birthday",
        "date_of_birth", "dateOfBirth", "dob",
    }
)  # fmt: skip
EMAIL_KEYS = frozenset({"email", "Email", "email_address", "emailAddress", "e-mail"})
PHONE_KEYS = frozenset({"phone", "Phone", "phone_number", "phoneNumber", "mobile", "mobile_phone", "tel"})
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
    # Subtrees whose PERSON_KEYS, EMAIL_KEYS and PHONE_KEYS are personal at any depth.
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

    def __init__(self) -> None:
        self._signal_paths = self._labelled(self.fields)

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
        found: list[Evidence | None] = []
        for candidates in self._signal_paths:
            evidence = None
            for path, label in candidates:
                value = self.value_at(event, path)
                if isinstance(value, str) and value:
                    evidence = (value, label)
                    break
            found.append(evidence)
        return (found[0], found[1], found[2], found[3], found[4])

    def value_at(self, event: dict[str, Any], path: Path) -> Any:
        """The value at `path`; formats whose events nest encoded documents (Snowplow contexts) extend it."""
        return get_path(event, path)

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
        changed._signal_paths = self._labelled(fields)
        return changed

    @staticmethod
    def _labelled(fields: SignalFields) -> tuple[tuple[tuple[Path, str], ...], ...]:
        return tuple(tuple((path, path_text(path)) for path in paths) for paths in fields.in_order())


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
