"""GA4 Measurement Protocol request bodies: one user's client_id or app_instance_id and up to 25 events.

Each event leaves as a body of its own that keeps the request's user-level fields
(ids, user_properties, user_location, ip_override, device, consent), so downstream
tools still read a valid Measurement Protocol body. An app declares its residency
in the user property `residency`: {"user_properties": {"residency": {"value": "eu"}}}.
{"value": null} is the protocol's way to clear a property, so it declares nothing.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from streams.formats.allowlists.ga4 import GA4_ALLOWED
from streams.formats.base import (
    CollectorFormat,
    DecodedEvent,
    Evidence,
    EvidenceReader,
    Path,
    PayloadError,
    PersonalFields,
    SignalFields,
    json_bytes,
    read_declared,
)
from streams.formats.consent import NOTHING, Consent, interning

_USER_IDS = ("client_id", "app_instance_id")
MAX_EVENTS = 25  # the Measurement Protocol's limit per request


class Ga4Format(CollectorFormat):
    name = "ga4"
    fields = SignalFields(
        declared=(("user_properties", "residency", "value"),),
        upstream_country=(("user_location", "country_id"),),
        ip=(("ip_override",),),
        locale=(("device", "language"),),
    )
    personal = PersonalFields(
        user_id=(("user_id",),),
        anonymous_id=(("client_id",), ("app_instance_id",)),
        # User-provided data: Google wants it SHA-256 hashed, which a lookup table reverses.
        email=(("user_data", "sha256_email_address"),),
        phone=(("user_data", "sha256_phone_number"),),
        name=(("user_data", "address"),),
        ip=(("ip_override",),),
        geo=(("user_location",),),
        user_agent=(("user_agent",),),
        timestamp=(("timestamp_micros",),),
        trait_containers=(("user_properties",),),
    )
    allowed = GA4_ALLOWED
    # Google's consent mode types; the protocol has no analytics consent, so analytics is ungated.
    consent_categories = MappingProxyType(
        {"analytics": (), "advertising": ("ad_user_data", "ad_personalization")}
    )

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _ga4_event_consent(event)

    def matches(self, document: dict[str, Any]) -> bool:
        return isinstance(document.get("events"), list) and any(key in document for key in _USER_IDS)

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        events = document["events"]
        if not events:
            raise PayloadError("ga4 body has no events")
        if len(events) > MAX_EVENTS:
            raise PayloadError(f"ga4 body has {len(events)} events, the protocol allows {MAX_EVENTS}")
        if not any(isinstance(document.get(key), str) and document[key] for key in _USER_IDS):
            raise PayloadError("ga4 client_id or app_instance_id is not a non-empty string")
        if len(events) == 1:
            return [_checked(0, events[0], document, raw)]
        shared = {key: value for key, value in document.items() if key != "events"}
        return [
            _checked(index, event, {**shared, "events": [event]}, None) for index, event in enumerate(events)
        ]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        if signal == "declared" and len(path) == 3 and path[0] == "user_properties" and path[2] == "value":
            return _read_user_property
        return super().evidence_reader(signal, path)


def _read_user_property(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    # A property that is null can't be read; {"value": null} clears it, which declares nothing.
    read_declared(event, path, label, into, null_at=1)


def _checked(index: int, event: Any, body: dict[str, Any], raw: bytes | None) -> DecodedEvent:
    if not isinstance(event, dict):
        return DecodedEvent(index, event, PayloadError("ga4 event is not a JSON object"))
    name = event.get("name")
    if not isinstance(name, str) or not name:
        return DecodedEvent(index, event, PayloadError("ga4 event has no name"))
    params = event.get("params")
    if params is not None and not isinstance(params, dict):
        return DecodedEvent(index, event, PayloadError("ga4 event params is not an object"))
    return DecodedEvent(index, body, raw=raw)


# --- consent ---------------------------------------------------------------------------------------


_GA4_GRANTED = "GRANTED"


def _ga4_event_consent(event: dict[str, Any]) -> Consent | None:
    consent = event.get("consent")
    # The obsolete body-level flag; Google still reads it as ad_personalization denied.
    non_personalized = event.get("non_personalized_ads")
    restricted = non_personalized is not None and non_personalized is not False
    if consent is None:
        return Consent(frozenset(), frozenset({"ad_personalization"})) if restricted else None
    if not isinstance(consent, dict):
        return NOTHING
    if not consent and not restricted:
        return None
    return _ga4_consent((consent, restricted))


@interning
def _ga4_consent(document: tuple[dict[str, Any], bool]) -> Consent:
    consent, restricted = document
    granted: list[str] = []
    denied = ["ad_personalization"] if restricted else []
    for name, value in consent.items():
        (granted if value == _GA4_GRANTED else denied).append(name.lower())
    return Consent(frozenset(granted), frozenset(denied))
