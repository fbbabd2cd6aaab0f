"""Snowplow tracker protocol: payload_data POST bodies (a "data" array of events) and GET parameter objects.

A tracker sends context entities and self-describing events either as plain JSON
strings (`co`, `ue_pr`) or base64url-encoded (`cx`, `ue_px`); both read the same here.
An app declares its residency with a context entity of RESIDENCY_SCHEMA, e.g.
{"schema": "iglu:io.residencygateway/residency/jsonschema/1-0-0", "data": {"residency": "eu"}}.
Every such entity in `co` and in `cx` is evidence, and one of another major version can't be read.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from streams.allowlists.snowplow import SNOWPLOW_ALLOWED
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
from streams.formats.exact_json import JsonRefused, read_json

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/"
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

    def matches(self, document: dict[str, Any]) -> bool:
        schema = document.get("schema")
        return isinstance(schema, str) and schema.startswith(PAYLOAD_DATA_SCHEMA)

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
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

    def evidence_reader(self, path: Path) -> EvidenceReader:
        return _read_entities if len(path) >= 2 and path[0] == CONTEXTS else read_evidence


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
    for field in ("co", "cx"):
        if event.get(field) is not None:
            entities += _entities_in(event, field)
    return entities


def self_describing_event(event: dict[str, Any]) -> Any:
    """The event's self-describing payload, from `ue_pr` (plain) or `ue_px` (base64url); None if absent."""
    plain, encoded = event.get("ue_pr"), event.get("ue_px")
    if plain is None and encoded is None:
        return None
    if plain is not None:
        return _json(plain, "ue_pr")
    return _json(_base64_json(encoded, "ue_px"), "ue_px")


def entity_evidence(
    entities: list[Any], at: Path, schema_prefix: str, path: Path, into: list[Evidence]
) -> None:
    """Add `path` in the data of every entity whose schema starts with `schema_prefix` to `into`.

    An entity of the same schema but another major version is evidence that can't be read
    (its meaning may have changed), and so is a matching entity without the field: the app
    attached it to say something.
    """
    versioned = _VERSIONED_PREFIX.fullmatch(schema_prefix)
    family = versioned.group(1) if versioned else None
    for index, entity in enumerate(entities):
        schema = entity.get("schema") if isinstance(entity, dict) else None
        if not isinstance(schema, str):
            continue
        here = (*at, index)
        if schema.startswith(schema_prefix):
            found = len(into)
            read_evidence(entity, ("data", *path), None, into, here)
            if len(into) == found:
                problem = Unreadable(f"an entity of its schema without {path_text(path)}")
                into.append((problem, path_text((*here, "data", *path))))
        elif family is not None and schema.startswith(family):
            into.append((_OTHER_MAJOR, path_text((*here, "schema"))))


_OTHER_MAJOR = Unreadable("an entity of the schema in a major version the gateway doesn't know")


def _read_entities(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    """(CONTEXTS, schema prefix, keys...): the keys in every matching entity of `co` and of `cx`."""
    # Both encodings may come together; what either carries counts.
    for field in ("co", "cx"):
        if event.get(field) is not None:
            entity_evidence(_entities_in(event, field), (field, "data"), str(path[1]), path[2:], into)


def _entities_in(event: dict[str, Any], field: str) -> list[Any]:
    text = event[field] if field == "co" else _base64_json(event[field], field)
    envelope = _json(text, field)
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
