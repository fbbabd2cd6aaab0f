"""Snowplow's consent schemas and what each says: shared by the tracker and enriched formats.

consent_preferences (an event or an entity) names the scopes a user accepted or withdrew;
the older consent_granted / consent_withdrawn events name only the consent documents they
concern. Any 1-x-y version of each schema is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from streams.formats.consent import NOTHING, Consent, merged, names

# The scopes that grant each purpose by default, in every Snowplow format.
SNOWPLOW_CONSENT_CATEGORIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"analytics": ("analytics",), "advertising": ("marketing", "advertisement")}
)

VENDOR = "com.snowplowanalytics.snowplow"
PREFERENCES = "consent_preferences"
_GRANTED = "consent_granted"
_WITHDRAWN = "consent_withdrawn"
_DOCUMENT = "consent_document"
CONSENT_EVENTS = (PREFERENCES, _GRANTED, _WITHDRAWN)
# Any 1-x-y version of each schema.
_SCHEMAS = {name: f"iglu:{VENDOR}/{name}/jsonschema/1-" for name in (*CONSENT_EVENTS, _DOCUMENT)}
# consent_preferences eventType values (iglu:com.snowplowanalytics.snowplow/consent_preferences 1-0-0).
# consentScopes lists the scopes the user accepted; withdrawn and expired end them.
_GRANTING = frozenset({"allow_all", "allow_selected", "implicit_consent"})
_ENDING = frozenset({"withdrawn", "expired"})


def from_self_describing(payload: Any, entities: Callable[[], list[Any]]) -> Consent | None:
    """Consent from an unstruct_event envelope {"schema": ..., "data": {"schema": ..., "data": ...}}."""
    inner = payload.get("data") if isinstance(payload, dict) else None
    schema = inner.get("schema") if isinstance(inner, dict) else None
    if not isinstance(inner, dict) or not isinstance(schema, str):
        return None
    for name in CONSENT_EVENTS:
        if schema.startswith(_SCHEMAS[name]):
            return from_event(name, inner.get("data"), lambda: _of_schema(entities(), _DOCUMENT))
    return None


def from_entities(entities: list[Any]) -> Consent | None:
    return merged([preferences(data) for data in _of_schema(entities, PREFERENCES)])


def _of_schema(entities: list[Any], name: str) -> list[Any]:
    prefix = _SCHEMAS[name]
    return [
        entity.get("data")
        for entity in entities
        if isinstance(entity, dict)
        and isinstance(entity.get("schema"), str)
        and entity["schema"].startswith(prefix)
    ]


def from_event(name: str, data: Any, documents: Callable[[], list[Any]]) -> Consent:
    """The consent a consent event states about itself; `documents` gives its consent_document entities."""
    if name == PREFERENCES:
        return preferences(data)
    # consent_granted / consent_withdrawn name no scopes, only the documents agreed to or withdrawn.
    ids = frozenset(
        document["id"].lower()
        for document in documents()
        if isinstance(document, dict) and isinstance(document.get("id"), str) and document["id"]
    )
    if name == _GRANTED:
        return Consent(ids, frozenset())
    return Consent(frozenset(), ids)  # withdrawn (of these documents, or of all): nothing granted


def preferences(data: Any) -> Consent:
    if not isinstance(data, dict):
        return NOTHING
    kind, scopes = data.get("eventType"), names(data.get("consentScopes"))
    if scopes is None:
        return NOTHING
    if kind in _GRANTING:
        return Consent(scopes, frozenset())
    if kind in _ENDING:
        return Consent(frozenset(), scopes)
    # deny_all (its scopes are what stays accepted, e.g. "necessary"), pending (nothing decided yet)
    # and any unknown eventType grant nothing.
    return NOTHING
