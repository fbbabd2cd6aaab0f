"""Snowplow tracker protocol: payload_data POST bodies (a "data" array of events) and GET parameter objects.

A tracker sends context entities and self-describing events either as plain JSON
strings (`co`, `ue_pr`) or base64url-encoded (`cx`, `ue_px`); both read the same here.
An app declares its residency with a context entity of RESIDENCY_SCHEMA, e.g.
{"schema": "iglu:io.residencygateway/residency/jsonschema/1-0-0", "data": {"residency": "eu"}},
or with the self-describing event of that schema. Every such entity in `co`, `cx`, `ue_pr` and
`ue_px` is evidence; one of another major version, or naming the schema in another form
(other case, spaces, no `iglu:`), can't be read. An envelope (payload_data, contexts,
unstruct_event) of a major version other than 1 dead-letters the payload or the event.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from streams.formats.allowlists.snowplow import SNOWPLOW_ALLOWED
from streams.formats.base import (
    EACH,
    CollectorFormat,
    DecodedEvent,
    Evidence,
    EvidenceReader,
    Path,
    PayloadError,
    PersonalFields,
    SignalFields,
    Unreadable,
    json_bytes,
    path_text,
    read_evidence,
)
from streams.formats.consent import NOTHING, Consent
from streams.formats.exact_json import JsonRefused, read_json
from streams.formats.snowplow_consent import (
    PREFERENCES,
    SNOWPLOW_CONSENT_CATEGORIES,
    from_entities,
    from_self_describing,
)

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/"
_SNOWPLOW_VENDOR = "com.snowplowanalytics.snowplow"
# Any 1-x-y version of the gateway's own residency entity.
RESIDENCY_SCHEMA = "iglu:io.residencygateway/residency/jsonschema/1-"
# A schema prefix that names a major version: its family, and the major (e.g. "1").
_VERSIONED_PREFIX = re.compile(r"(iglu:[^/]+/[^/]+/jsonschema/)(\d+)-")
# A signal path that starts with this looks into the event's context entities:
# (CONTEXTS, schema prefix, keys into the entity's data...).
CONTEXTS = "contexts"
# Where an expanded event keeps its decoded entities and self-describing event (plain forms).
EXPANDED_CONTEXTS = "co"
EXPANDED_EVENT = "ue_pr"
_ENCODED_FIELDS = ("co", "cx", "ue_pr", "ue_px")
# The two encodings of the contexts, plain first: what either carries counts.
_CONTEXT_FIELDS = ("co", "cx")
_CONTEXTS_SCHEMA = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"


class SnowplowFormat(CollectorFormat):
    """A payload_data POST body; each event leaves as a payload_data body of its own."""

    name = "snowplow"
    fields = SignalFields(
        declared=((CONTEXTS, RESIDENCY_SCHEMA, "residency"),),
        ip=(("ip",),),
        locale=(("lang",),),
        timezone=(("tz",),),
    )
    personal = PersonalFields(
        user_id=(("uid",),),
        # Domain user id, network user id and its override, and the browser fingerprint.
        anonymous_id=(("duid",), ("nuid",), ("tnuid",), ("fp",)),
        ip=(("ip",),),
        user_agent=(("ua",),),
        timestamp=(("dtm",), ("stm",), ("ttm",)),
        # Entities (e.g. a user entity) and the self-describing event, once `expanded` decodes them.
        trait_containers=((EXPANDED_CONTEXTS, "data", EACH), (EXPANDED_EVENT, "data")),
    )
    allowed = SNOWPLOW_ALLOWED
    consent_categories = SNOWPLOW_CONSENT_CATEGORIES

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _tracker_consent(event)

    def matches(self, document: dict[str, Any]) -> bool:
        schema = document.get("schema")
        return isinstance(schema, str) and schema.startswith(PAYLOAD_DATA_SCHEMA)

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        problem = envelope_problem(document.get("schema"), "payload_data")
        if problem is not None:  # another major version may mean another event format
            raise PayloadError(f"snowplow {problem}")
        data = document.get("data")
        if not isinstance(data, list):
            raise PayloadError("snowplow payload_data has no data array")
        if not data:
            raise PayloadError("snowplow payload_data has an empty data array")
        only = raw if len(data) == 1 else None
        return [_checked(index, item, only) for index, item in enumerate(data)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        # One event per record, still a valid payload_data body for Snowplow enrich.
        return json_bytes({"schema": envelope["schema"], "data": [event]})

    def expanded(self, event: dict[str, Any]) -> dict[str, Any]:
        # Entities leave as plain JSON (co, ue_pr) whichever way they came: the tracker protocol
        # accepts both, and a copy's fields must be plain to be transformed and checked.
        if not any(field in event for field in _ENCODED_FIELDS):
            return event
        expanded = {key: value for key, value in event.items() if key not in _ENCODED_FIELDS}
        if "co" in event or "cx" in event:
            expanded[EXPANDED_CONTEXTS] = {"schema": _CONTEXTS_SCHEMA, "data": context_entities(event)}
        if "ue_pr" in event or "ue_px" in event:
            expanded[EXPANDED_EVENT] = self_describing_event(event)
        return expanded

    def compacted(self, event: dict[str, Any]) -> dict[str, Any]:
        if EXPANDED_CONTEXTS not in event and EXPANDED_EVENT not in event:
            return event
        compacted = dict(event)
        for field in (EXPANDED_CONTEXTS, EXPANDED_EVENT):
            if field in compacted:
                compacted[field] = json_bytes(compacted[field]).decode("utf-8")
        return compacted

    def event_id(self, event: dict[str, Any]) -> str | None:
        eid = event.get("eid")
        return eid if isinstance(eid, str) else None

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        if len(path) >= 2 and path[0] == CONTEXTS:
            return _read_entities
        return super().evidence_reader(signal, path)


class SnowplowGetFormat(SnowplowFormat):
    """The parameters of a tracker GET request (/i?e=pv&...) as one flat JSON object."""

    name = "snowplow_get"

    def matches(self, document: dict[str, Any]) -> bool:
        # The protocol requires the event type and the tracker version on every event.
        return isinstance(document.get("e"), str) and isinstance(document.get("tv"), str)

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        return [_checked(0, document, raw)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)


def _checked(index: int, item: Any, raw: bytes | None) -> DecodedEvent:
    if not isinstance(item, dict):
        return DecodedEvent(index, item, PayloadError("snowplow event is not a JSON object"))
    if not isinstance(item.get("e"), str):
        return DecodedEvent(index, item, PayloadError("snowplow event has no event type (e)"))
    if item.get("ue_pr") is not None and item.get("ue_px") is not None:
        # An event is one self-describing event: two (plain and encoded) leave no way to tell which.
        return DecodedEvent(index, item, PayloadError("snowplow event carries both ue_pr and ue_px"))
    return DecodedEvent(index, item, raw=raw)


def context_entities(event: dict[str, Any]) -> list[Any]:
    """The event's context entities, from `co` (plain JSON) and `cx` (base64url JSON): both, if both came.

    Trackers send one or the other; an event with both is read whole, so that nothing in
    either (a residency, a consent) is silently left out.
    """
    entities: list[Any] = []
    for field in _CONTEXT_FIELDS:
        if event.get(field) is not None:
            entities += _entities_in(event, field)
    return entities


def self_describing_event(event: dict[str, Any]) -> Any:
    """The event's self-describing payload, from `ue_pr` (plain) or `ue_px` (base64url); None if absent."""
    plain, encoded = event.get("ue_pr"), event.get("ue_px")
    if plain is None and encoded is None:
        return None
    field = "ue_pr" if plain is not None else "ue_px"
    envelope = _json(plain, field) if plain is not None else _json(_base64_json(encoded, field), field)
    if isinstance(envelope, dict):
        problem = envelope_problem(envelope.get("schema"), "unstruct_event")
        if problem is not None:
            raise PayloadError(f"snowplow {field} {problem}", stage="classify")
    return envelope


def envelope_problem(schema: Any, name: str) -> str | None:
    """Why a Snowplow envelope's schema (payload_data, contexts, unstruct_event) can't be read, or None.

    Only the envelope's own schema counts: any other (or none) is left to what reads its data.
    Another major version may mean another layout. The reason names the version's digits, never
    other text of the payload.
    """
    if not isinstance(schema, str) or vendor_and_name(schema) != (_SNOWPLOW_VENDOR, name):
        return None
    version = _ENVELOPE_VERSION.fullmatch(schema)
    if version is None or version["vendor"] != _SNOWPLOW_VENDOR or version["name"] != name:
        return f"{name} schema is not an iglu URI of a version the gateway reads"
    if version["major"] != "1":
        numbers = "-".join(version.group("major", "minor", "patch"))
        return f"{name} schema version {numbers} is not one the gateway reads"
    return None


def vendor_and_name(schema: str) -> tuple[str, str] | None:
    """The vendor and name a schema URI names, read leniently: any case, spaces around, no `iglu:`."""
    text = schema.strip().lower()
    if text.startswith("iglu:"):
        text = text[5:]
    vendor, _, rest = text.partition("/")
    name, slash, _ = rest.partition("/")
    return (vendor, name) if slash else None


def entity_evidence(
    located: list[tuple[Path, Any]], schema_prefix: str, path: Path, into: list[Evidence]
) -> None:
    """Add `path` in the data of every entity (at its place in the event) of `schema_prefix` to `into`.

    An entity is of the schema when its URI, read leniently (`vendor_and_name`), names the
    schema's vendor and name. Only the exact form, `<prefix><minor>-<patch>`, is read; another
    major version (its meaning may have changed) or another spelling of the URI is evidence
    that can't be read, and so is a matching entity without the field: the app attached it
    to say something.
    """
    family = _family(schema_prefix)
    for where, entity in located:
        schema = entity.get("schema") if isinstance(entity, dict) else None
        if not isinstance(schema, str):
            continue
        if schema.startswith(schema_prefix) and (family is None or family.exact.fullmatch(schema)):
            found = len(into)
            read_evidence(entity, ("data", *path), None, into, where)
            if len(into) == found:
                problem = Unreadable(f"an entity of its schema without {path_text(path)}")
                into.append((problem, path_text((*where, "data", *path))))
        elif family is not None and vendor_and_name(schema) == family.names:
            other_major = family.any_version.fullmatch(schema) is not None
            into.append((_OTHER_MAJOR if other_major else _OTHER_FORM, path_text((*where, "schema"))))


@dataclass(frozen=True, slots=True)
class _Family:
    names: tuple[str, str]  # vendor and name, lower-cased
    exact: re.Pattern[str]  # the prefix's major version, any minor and patch
    any_version: re.Pattern[str]  # any version, written exactly


@lru_cache(maxsize=64)
def _family(schema_prefix: str) -> _Family | None:
    """The schema family of a versioned prefix (iglu:vendor/name/jsonschema/1-); None if it names none."""
    versioned = _VERSIONED_PREFIX.fullmatch(schema_prefix)
    names = vendor_and_name(schema_prefix)
    if versioned is None or names is None:
        return None
    exact = re.compile(re.escape(schema_prefix) + r"\d+-\d+")
    any_version = re.compile(re.escape(versioned.group(1)) + r"\d+-\d+-\d+")
    return _Family(names, exact, any_version)


_OTHER_MAJOR = Unreadable("an entity of the schema in a major version the gateway doesn't know")
_OTHER_FORM = Unreadable("an entity naming the schema in another form than its iglu URI")
_ENVELOPE_VERSION = re.compile(
    r"iglu:(?P<vendor>[^/]+)/(?P<name>[^/]+)/jsonschema/(?P<major>\d{1,6})-(?P<minor>\d{1,6})-(?P<patch>\d{1,6})"
)


def _read_entities(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    """(CONTEXTS, schema prefix, keys...): the keys in every matching entity, and in the event's own data.

    Entities come from `co` and `cx`; an app may also send the entity as the self-describing
    event itself (`ue_pr` or `ue_px`).
    """
    located: list[tuple[Path, Any]] = []
    for field in _CONTEXT_FIELDS:
        if event.get(field) is not None:
            entities = _entities_in(event, field)
            located += (((field, "data", index), entity) for index, entity in enumerate(entities))
    envelope = self_describing_event(event)
    if isinstance(envelope, dict):
        field = "ue_pr" if event.get("ue_pr") is not None else "ue_px"
        located.append(((field, "data"), envelope.get("data")))
    entity_evidence(located, str(path[1]), path[2:], into)


def _entities_in(event: dict[str, Any], field: str) -> list[Any]:
    text = event[field] if field == "co" else _base64_json(event[field], field)
    envelope = _json(text, field)
    if isinstance(envelope, dict):
        problem = envelope_problem(envelope.get("schema"), "contexts")
        if problem is not None:
            raise PayloadError(f"snowplow {field} {problem}", stage="classify")
    entities = envelope.get("data") if isinstance(envelope, dict) else None
    if not isinstance(entities, list):
        raise PayloadError("snowplow contexts hold no data array", stage="classify")
    return entities


def _base64_json(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise PayloadError(f"snowplow {field} is not a string", stage="classify")
    # Trackers use the URL-safe alphabet and often drop the padding; some send the standard one.
    text = value.replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PayloadError(f"snowplow {field} is not valid base64", stage="classify") from None


def _json(text: Any, field: str) -> Any:
    if not isinstance(text, str | bytes):
        raise PayloadError(f"snowplow {field} is not a string", stage="classify")
    try:
        return read_json(text)
    except JsonRefused as refused:  # e.g. "snowplow co holds a duplicate key in a JSON object"
        raise PayloadError(f"snowplow {field} {refused.reason}", stage="classify") from None


# --- consent ---------------------------------------------------------------------------------------


def _base64_needles(text: str) -> tuple[str, ...]:
    """The base64 forms `text` takes inside any base64 string, at each of the 3 byte alignments.

    Only the characters made wholly from `text`'s bits are kept, so the neighbours don't change
    them; both alphabets, since some trackers send the standard one.
    """
    raw = text.encode()
    needles: set[str] = set()
    for shift in range(3):
        encoded = base64.urlsafe_b64encode(bytes(shift) + raw).decode()
        part = encoded[-(-8 * shift // 6) : 8 * (shift + len(raw)) // 6]
        needles.update((part, part.replace("-", "+").replace("_", "/")))
    return tuple(sorted(needles))


# Substrings that must appear in a tracker's contexts (entities) or self-describing event before
# decoding them is worth it. Schema URIs are matched without "/" because some JSON writers escape it.
_ENTITY_MARK = PREFERENCES
_EVENT_MARK = "consent_"
_ENTITY_MARKS_B64 = _base64_needles(_ENTITY_MARK)
_EVENT_MARKS_B64 = _base64_needles(_EVENT_MARK)


def _mentions(event: dict[str, Any], plain: str, encoded: str, mark: str, marks_b64: tuple[str, ...]) -> bool:
    # Both encodings may come together, and what either carries counts.
    text = event.get(plain)
    if text is not None and (not isinstance(text, str) or mark in text):  # unreadable: let decoding say so
        return True
    text = event.get(encoded)
    if text is None:
        return False
    return not isinstance(text, str) or any(needle in text for needle in marks_b64)


def _tracker_consent(event: dict[str, Any]) -> Consent | None:
    try:
        if event.get("e") == "ue" and _mentions(event, "ue_pr", "ue_px", _EVENT_MARK, _EVENT_MARKS_B64):
            found = from_self_describing(self_describing_event(event), lambda: context_entities(event))
            if found is not None:
                return found
        if _mentions(event, "co", "cx", _ENTITY_MARK, _ENTITY_MARKS_B64):
            return from_entities(context_entities(event))
    except PayloadError:
        return NOTHING  # it mentions consent but can't be decoded
    return None
