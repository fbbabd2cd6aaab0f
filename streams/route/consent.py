"""What consent an event carries, per collector format, and whether it grants a destination's purpose.

Each collector writes consent its own way (docs/consent.md has the shapes and their sources):
Segment `context.consent.categoryPreferences`, RudderStack `context.consentManagement`, GA4
Measurement Protocol `consent`, Snowplow's consent_preferences event or entity and the older
consent_granted / consent_withdrawn events. `consent_of` reads them into one `Consent`;
`ConsentGate` says whether it grants a purpose. Consent the gateway can't read never grants.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from streams.formats.base import PayloadError
from streams.formats.exact_json import JsonRefused, read_json
from streams.formats.snowplow import context_entities, self_describing_event


@dataclass(frozen=True, slots=True)
class Consent:
    granted: frozenset[str]  # category / scope names as the collector wrote them, lower-cased
    denied: frozenset[str]


_NOTHING = Consent(frozenset(), frozenset())  # consent present but unreadable: grants nothing

# Few distinct consent objects recur across millions of events, so each reader interns what it
# reads, keyed by the object's JSON: bytes tell `true` from `1`, which dict keys would not.
_INTERNED_MAX = 4096
_interned: dict[bytes, Consent | None] = {}


def _interning(read: Callable[[Any], Consent | None]) -> Callable[[Any], Consent | None]:
    def reader(document: Any) -> Consent | None:
        try:
            key = read.__name__.encode() + orjson.dumps(document)
        except TypeError:  # not JSON (a tuple, a set): read it as it is
            return read(document)
        try:
            return _interned[key]
        except KeyError:
            if len(_interned) >= _INTERNED_MAX:
                _interned.clear()  # a flood of distinct objects; correctness never depends on the cache
            found = _interned[key] = read(document)
            return found

    return reader


# --- Segment and RudderStack --------------------------------------------------------------------


def _segment(event: dict[str, Any]) -> Consent | None:
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    consent = context.get("consent")
    if consent is None:
        return None
    if not isinstance(consent, dict):
        return _NOTHING
    preferences = consent.get("categoryPreferences")
    if preferences is None:
        # Segment lets an event with an empty consent object flow everywhere: no consent stated.
        return None
    if not isinstance(preferences, dict):
        return _NOTHING
    return _category_preferences(preferences)


@_interning
def _category_preferences(preferences: dict[str, Any]) -> Consent:
    granted: list[str] = []
    denied: list[str] = []
    for name, value in preferences.items():
        # Only JSON true grants: "true", 1 and null are not a user's yes.
        (granted if value is True else denied).append(name.lower())
    return Consent(frozenset(granted), frozenset(denied))


def _rudderstack(event: dict[str, Any]) -> Consent | None:
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    management = context.get("consentManagement")
    if management is None:
        return None
    if not isinstance(management, dict):
        return _NOTHING
    return _consent_management(management)


@_interning
def _consent_management(management: dict[str, Any]) -> Consent | None:
    allowed, denied = management.get("allowedConsentIds"), management.get("deniedConsentIds")
    if allowed is None and denied is None:
        return None
    denied_ids = _names(denied)
    if denied_ids is None:
        return _NOTHING  # a denial might hide in what can't be read: nothing is granted
    allowed_ids = _names(allowed)
    return Consent(allowed_ids if allowed_ids is not None else frozenset(), denied_ids)


# --- GA4 Measurement Protocol -------------------------------------------------------------------

_GA4_GRANTED = "GRANTED"


def _ga4(event: dict[str, Any]) -> Consent | None:
    consent = event.get("consent")
    # The obsolete body-level flag; Google still reads it as ad_personalization denied.
    non_personalized = event.get("non_personalized_ads")
    restricted = non_personalized is not None and non_personalized is not False
    if consent is None:
        return Consent(frozenset(), frozenset({"ad_personalization"})) if restricted else None
    if not isinstance(consent, dict):
        return _NOTHING
    if not consent and not restricted:
        return None
    return _ga4_consent((consent, restricted))


@_interning
def _ga4_consent(document: tuple[dict[str, Any], bool]) -> Consent:
    consent, restricted = document
    granted: list[str] = []
    denied = ["ad_personalization"] if restricted else []
    for name, value in consent.items():
        (granted if value == _GA4_GRANTED else denied).append(name.lower())
    return Consent(frozenset(granted), frozenset(denied))


# --- Snowplow -----------------------------------------------------------------------------------

_VENDOR = "com.snowplowanalytics.snowplow"
_PREFERENCES = "consent_preferences"
_GRANTED = "consent_granted"
_WITHDRAWN = "consent_withdrawn"
_DOCUMENT = "consent_document"
_CONSENT_EVENTS = (_PREFERENCES, _GRANTED, _WITHDRAWN)
# Any 1-x-y version of each schema.
_SCHEMAS = {name: f"iglu:{_VENDOR}/{name}/jsonschema/1-" for name in (*_CONSENT_EVENTS, _DOCUMENT)}
# consent_preferences eventType values (iglu:com.snowplowanalytics.snowplow/consent_preferences 1-0-0).
# consentScopes lists the scopes the user accepted; withdrawn and expired end them.
_GRANTING = frozenset({"allow_all", "allow_selected", "implicit_consent"})
_ENDING = frozenset({"withdrawn", "expired"})


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
_ENTITY_MARK = _PREFERENCES
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


def _snowplow(event: dict[str, Any]) -> Consent | None:
    try:
        if event.get("e") == "ue" and _mentions(event, "ue_pr", "ue_px", _EVENT_MARK, _EVENT_MARKS_B64):
            found = _from_self_describing(self_describing_event(event), lambda: context_entities(event))
            if found is not None:
                return found
        if _mentions(event, "co", "cx", _ENTITY_MARK, _ENTITY_MARKS_B64):
            return _from_entities(context_entities(event))
    except PayloadError:
        return _NOTHING  # it mentions consent but can't be decoded
    return None


def _from_self_describing(payload: Any, entities: Callable[[], list[Any]]) -> Consent | None:
    """Consent from an unstruct_event envelope {"schema": ..., "data": {"schema": ..., "data": ...}}."""
    inner = payload.get("data") if isinstance(payload, dict) else None
    schema = inner.get("schema") if isinstance(inner, dict) else None
    if not isinstance(inner, dict) or not isinstance(schema, str):
        return None
    for name in _CONSENT_EVENTS:
        if schema.startswith(_SCHEMAS[name]):
            return _from_event(name, inner.get("data"), lambda: _of_schema(entities(), _DOCUMENT))
    return None


def _from_entities(entities: list[Any]) -> Consent | None:
    return _merged([_preferences(data) for data in _of_schema(entities, _PREFERENCES)])


def _of_schema(entities: list[Any], name: str) -> list[Any]:
    prefix = _SCHEMAS[name]
    return [
        entity.get("data")
        for entity in entities
        if isinstance(entity, dict)
        and isinstance(entity.get("schema"), str)
        and entity["schema"].startswith(prefix)
    ]


def _from_event(name: str, data: Any, documents: Callable[[], list[Any]]) -> Consent:
    """The consent a consent event states about itself; `documents` gives its consent_document entities."""
    if name == _PREFERENCES:
        return _preferences(data)
    # consent_granted / consent_withdrawn name no scopes, only the documents agreed to or withdrawn.
    ids = frozenset(
        document["id"].lower()
        for document in documents()
        if isinstance(document, dict) and isinstance(document.get("id"), str) and document["id"]
    )
    if name == _GRANTED:
        return Consent(ids, frozenset())
    return Consent(frozenset(), ids)  # withdrawn (of these documents, or of all): nothing granted


def _preferences(data: Any) -> Consent:
    if not isinstance(data, dict):
        return _NOTHING
    kind, scopes = data.get("eventType"), _names(data.get("consentScopes"))
    if scopes is None:
        return _NOTHING
    if kind in _GRANTING:
        return Consent(scopes, frozenset())
    if kind in _ENDING:
        return Consent(frozenset(), scopes)
    # deny_all (its scopes are what stays accepted, e.g. "necessary"), pending (nothing decided yet)
    # and any unknown eventType grant nothing.
    return _NOTHING


def _merged(found: list[Consent]) -> Consent | None:
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    # Several entities: everything any of them denies stays denied (a contradiction fails closed).
    return Consent(
        frozenset().union(*(c.granted for c in found)), frozenset().union(*(c.denied for c in found))
    )


def _enriched_tsv(event: dict[str, Any]) -> Consent | None:
    # Enrich names the self-describing event in event_vendor/event_name, so only a consent event's
    # unstruct_event is parsed. Entities come from contexts and derived_contexts alike, as the
    # SDK's JSON form can't tell them apart and the same event should gate the same in both forms.
    try:
        name = event.get("event_name")
        if name in _CONSENT_EVENTS and event.get("event_vendor") == _VENDOR:
            found = _from_self_describing(_loaded(event.get("unstruct_event")), lambda: _tsv_entities(event))
            if found is not None:
                return found
        if any(_ENTITY_MARK in text for text in _entity_columns(event)):
            return _from_entities(_tsv_entities(event))
    except PayloadError:
        return _NOTHING
    return None


def _entity_columns(event: dict[str, Any]) -> list[str]:
    return [text for text in (event.get("contexts"), event.get("derived_contexts")) if isinstance(text, str)]


def _tsv_entities(event: dict[str, Any]) -> list[Any]:
    entities: list[Any] = []
    for text in _entity_columns(event):
        envelope = _loaded(text)
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if not isinstance(data, list):
            raise PayloadError("snowplow enriched contexts hold no data array", stage="classify")
        entities.extend(data)
    return entities


def _loaded(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return read_json(text)  # exactly: consent given twice in one document is no consent to guess at
    except JsonRefused:
        raise PayloadError("snowplow enriched consent is not valid JSON", stage="classify") from None


# The Analytics SDK's keys: any 1-x-y version of each schema.
_JSON_EVENT_KEYS = tuple(
    (name, f"unstruct_event_com_snowplowanalytics_snowplow_{name}_1") for name in _CONSENT_EVENTS
)
_JSON_PREFERENCES_KEY = "contexts_com_snowplowanalytics_snowplow_consent_preferences_1"
_JSON_DOCUMENTS_KEY = "contexts_com_snowplowanalytics_snowplow_consent_document_1"


def _enriched_json(event: dict[str, Any]) -> Consent | None:
    for name, key in _JSON_EVENT_KEYS:
        data = event.get(key)
        if data is not None:
            return _from_event(name, data, lambda: _listed(event.get(_JSON_DOCUMENTS_KEY)))
    entities = event.get(_JSON_PREFERENCES_KEY)
    if entities is None:
        return None
    if not isinstance(entities, list):
        return _NOTHING
    return _merged([_preferences(data) for data in entities])


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- Shared -------------------------------------------------------------------------------------


def _names(value: Any) -> frozenset[str] | None:
    """A list of names, lower-cased; None when it is there but isn't a list of strings."""
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return None
    return frozenset(name.lower() for name in value if name)


def _generic(event: dict[str, Any]) -> Consent | None:
    return None  # arbitrary JSON has no consent convention to read


_READERS: dict[str, Callable[[dict[str, Any]], Consent | None]] = {
    "segment": _segment,
    "rudderstack": _rudderstack,
    "snowplow": _snowplow,
    "snowplow_get": _snowplow,
    "snowplow_enriched_tsv": _enriched_tsv,
    "snowplow_enriched_json": _enriched_json,
    "ga4": _ga4,
    "generic": _generic,
}


def consent_of(format_name: str, event: dict[str, Any]) -> Consent | None:
    """The consent the event carries, or None when it carries none (then the policy's `when_absent` decides).

    Consent that is present but can't be read (a string where an object belongs, a value that
    isn't the collector's "yes") grants nothing. Raises ValueError for a format it doesn't know.
    """
    reader = _READERS.get(format_name)
    if reader is None:
        raise ValueError(f"no consent reader for format {format_name!r} (known: {', '.join(_READERS)})")
    return reader(event)


class ConsentGate:
    """Whether an event's consent lets a copy go to a destination of a given purpose."""

    __slots__ = ("_allow_absent", "_categories")

    def __init__(
        self, purposes: Mapping[str, Mapping[str, Sequence[str]]], when_absent: Literal["allow", "deny"]
    ) -> None:
        """purposes: purpose name -> format name -> the collector's category names that grant it.

        Matching is case-insensitive. A format with no categories listed for a purpose (or not
        listed) treats the purpose as ungated for that format: the collector can't express it.
        Raises ValueError listing every mistake with its path.
        """
        problems: list[str] = []
        if when_absent not in ("allow", "deny"):
            problems.append(f"when_absent: {when_absent!r} must be 'allow' or 'deny'")
        table: dict[str, dict[str, frozenset[str]]] = {}
        for purpose, formats in purposes.items():
            if not isinstance(formats, Mapping):
                problems.append(f"purposes.{purpose}: must map collector formats to category names")
                continue
            table[purpose] = {}
            for format_name, categories in formats.items():
                where = f"purposes.{purpose}.{format_name}"
                if format_name not in _READERS:
                    problems.append(
                        f"{where}: {format_name!r} is not a collector format ({', '.join(_READERS)})"
                    )
                if isinstance(categories, str) or not isinstance(categories, Sequence):
                    problems.append(
                        f"{where}: must be a list of category names (got {type(categories).__name__})"
                    )
                    continue
                for index, category in enumerate(categories):
                    if not isinstance(category, str) or not category.strip():
                        problems.append(f"{where}[{index}]: {category!r} is not a category name")
                table[purpose][format_name] = frozenset(
                    category.lower() for category in categories if isinstance(category, str)
                )
        if problems:
            raise ValueError("consent settings: " + "; ".join(problems))
        self._categories = table
        self._allow_absent = when_absent == "allow"

    def allows(self, purpose: str, format_name: str, consent: Consent | None) -> bool:
        """True when the destination's purpose may receive the event.

        Ungated (no categories for this format) -> True; consent None -> when_absent == "allow";
        otherwise granted if ANY mapped category is in consent.granted and NONE is in consent.denied
        (fail closed on contradiction). A category mentioned nowhere in the consent is not granted.
        A purpose the gate doesn't know is refused: a misspelt purpose must not open a destination.
        """
        formats = self._categories.get(purpose)
        if formats is None:
            return False
        categories = formats.get(format_name)
        if not categories:
            return True
        if consent is None:
            return self._allow_absent
        return not categories.isdisjoint(consent.granted) and categories.isdisjoint(consent.denied)
