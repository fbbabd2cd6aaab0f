"""Segment-spec events, single or {"batch": [...]}, and RudderStack's events, which follow the same spec.

RudderStack's server adds `request_ip` (the address the SDK called from) and
`rudderId` to each event before its Kafka destination writes it; that is how the
two are told apart: a payload is RudderStack's when it, or any event of its batch,
carries one of them. `request_ip` is RudderStack's second IP field, after `context.ip`.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, TypeGuard

from streams.formats.allowlists.segment import RUDDERSTACK_ALLOWED, SEGMENT_ALLOWED
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
    read_evidence,
)
from streams.formats.consent import NOTHING, Consent, interning, names

EVENT_TYPES = frozenset({"track", "page", "screen", "identify", "group", "alias"})
# The field each call type can't do without, per the spec (Segment's API rejects the call without it).
_REQUIRED_BY_TYPE = {"track": "event", "group": "groupId", "alias": "previousId"}
# CDN country headers an HTTP-to-Kafka bridge captured from the collector request, lowercased.
CDN_COUNTRY_HEADERS = ("cf-ipcountry", "cloudfront-viewer-country", "x-vercel-ip-country")
# HTTP header names are case-insensitive, and a bridge may keep them as sent (CF-IPCountry).
_HEADERS: Path = ("context", "headers")
_RUDDERSTACK_MARKS = ("rudderId", "request_ip")


class SegmentFormat(CollectorFormat):
    name = "segment"
    fields = SignalFields(
        declared=(("context", "residency"),),
        upstream_country=(
            *(("context", "headers", header) for header in CDN_COUNTRY_HEADERS),
            # The spec's device position, and Jitsu's own geolocation of context.ip.
            ("context", "location", "country"),
            ("context", "geo", "country", "code"),
        ),
        ip=(("context", "ip"),),
        locale=(("context", "locale"),),
        timezone=(("context", "timezone"),),
    )
    personal = PersonalFields(
        user_id=(("userId",), ("previousId",), ("context", "traits", "userId")),
        anonymous_id=(
            ("anonymousId",),
            ("context", "device", "id"),
            ("context", "device", "advertisingId"),
            ("context", "traits", "anonymousId"),
        ),
        email=(("properties", "email"),),
        phone=(("properties", "phone"),),
        # requestIp: the address Jitsu's ingest saw (Segment-compatible collectors add it).
        ip=(("context", "ip"), ("requestIp",)),
        # Segment's location is a device's precise position; Jitsu's context.geo is its own
        # geolocation (city, postal code, coordinates, ISP). The country stays of both.
        geo=(("context", "location"), ("context", "geo")),
        user_agent=(("context", "userAgent"),),
        timestamp=(("timestamp",), ("originalTimestamp",), ("sentAt",), ("receivedAt",)),
        # identify/group traits, and the traits an SDK caches on every call.
        trait_containers=(("traits",), ("context", "traits")),
    )
    allowed = SEGMENT_ALLOWED
    # context.consent.categoryPreferences, as Segment's Consent Management writes it.
    consent_categories = MappingProxyType({"analytics": ("Analytics",), "advertising": ("Advertising",)})

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _segment_consent(event)

    def matches(self, document: dict[str, Any]) -> bool:
        return isinstance(document.get("batch"), list) or _is_spec_type(document.get("type"))

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        if "batch" not in document:
            return [self._checked(0, document, raw)]
        batch = document["batch"]
        # A spec event with a "batch" that isn't an array used to be iterated: a TypeError that
        # escaped Pipeline.process (a number) or events made of a string's characters or an object's keys.
        if not isinstance(batch, list):
            raise PayloadError(f"{self.name} batch is not an array")
        if not batch:
            raise PayloadError(f"{self.name} batch is empty")
        shared = document.get("context")
        if shared is not None and not isinstance(shared, dict):
            raise PayloadError(f"{self.name} batch context is not an object")
        keys = self._context_signal_keys()
        return [self._batch_item(index, item, shared, keys) for index, item in enumerate(batch)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)

    def event_id(self, event: dict[str, Any]) -> str | None:
        message_id = event.get("messageId")
        return message_id if isinstance(message_id, str) else None

    def evidence_reader(self, signal: str, path: Path) -> EvidenceReader:
        if len(path) == 3 and path[:2] == _HEADERS and isinstance(path[2], str):
            return _read_header
        return super().evidence_reader(signal, path)

    def _batch_item(
        self, index: int, item: Any, shared: dict[str, Any] | None, signal_keys: tuple[str, ...]
    ) -> DecodedEvent:
        """A batch's event, with the batch's context it takes along (it leaves as a single event).

        The event's own context wins key by key, as in Segment's API. A signal the batch's
        context carries must not vanish under the event's: where both carry a key that a
        signal is read under, with different values, the event says two things and is
        dead-lettered (a finer merge would be a guess at which one the sender meant).
        """
        if not isinstance(item, dict) or not shared:
            return self._checked(index, item, None)
        own = item.get("context")
        if own is None:
            return self._checked(index, {**item, "context": dict(shared)}, None)
        if not isinstance(own, dict):
            return DecodedEvent(index, item, PayloadError(f"{self.name} event context is not an object"))
        for key in signal_keys:
            if key in own and key in shared and own[key] != shared[key]:
                problem = f"{self.name} event's context.{key} differs from its batch's"
                return DecodedEvent(index, item, PayloadError(problem))
        return self._checked(index, {**item, "context": {**shared, **own}}, None)

    def _context_signal_keys(self) -> tuple[str, ...]:
        # From the configured fields, so a policy's override (jurisdiction.fields) counts too.
        return tuple(
            dict.fromkeys(
                str(path[1])
                for paths in self.fields.in_order()
                for path in paths
                if len(path) >= 2 and path[0] == "context"
            )
        )

    def _checked(self, index: int, item: Any, raw: bytes | None) -> DecodedEvent:
        name = self.name
        if not isinstance(item, dict):
            return DecodedEvent(index, item, PayloadError(f"{name} event is not a JSON object"))
        kind = item.get("type")
        if not _is_spec_type(kind):
            problem = "has no type" if kind is None else "type is not one of the spec's"
            return DecodedEvent(index, item, PayloadError(f"{name} event {problem}"))
        if item.get("userId") is None and item.get("anonymousId") is None:
            return DecodedEvent(
                index, item, PayloadError(f"{name} {kind} has neither userId nor anonymousId")
            )
        required = _REQUIRED_BY_TYPE.get(kind)
        if required is not None and item.get(required) is None:
            return DecodedEvent(index, item, PayloadError(f"{name} {kind} has no {required}"))
        return DecodedEvent(index, item, raw=raw)


class RudderStackFormat(SegmentFormat):
    name = "rudderstack"
    fields = SignalFields(
        declared=SegmentFormat.fields.declared,
        upstream_country=SegmentFormat.fields.upstream_country,
        ip=(("context", "ip"), ("request_ip",)),
        locale=SegmentFormat.fields.locale,
        timezone=SegmentFormat.fields.timezone,
    )
    personal = dataclasses.replace(SegmentFormat.personal, ip=(("context", "ip"), ("request_ip",)))
    allowed = RUDDERSTACK_ALLOWED
    # context.consentManagement's consent ids, as RudderStack's consent managers name them.
    consent_categories = MappingProxyType(
        {"analytics": ("analytics",), "advertising": ("advertising", "marketing")}
    )

    @staticmethod
    def consent(event: dict[str, Any]) -> Consent | None:
        return _rudderstack_consent(event)

    def matches(self, document: dict[str, Any]) -> bool:
        batch = document.get("batch")
        if isinstance(batch, list):
            # Any event, not the first: a batch is one sender's, and an event read as Segment
            # would have its request_ip ignored.
            return any(_has_rudderstack_mark(item) for item in batch)
        return _is_spec_type(document.get("type")) and _has_rudderstack_mark(document)


def _read_header(event: dict[str, Any], path: Path, label: str, into: list[Evidence]) -> None:
    """A header under context.headers, whatever the case of its name: every key that matches counts."""
    context = event.get("context")
    headers = context.get("headers") if isinstance(context, dict) else None
    if not isinstance(headers, dict):
        read_evidence(event, path, label, into)  # absent, or a container that can't be read
        return
    name = str(path[2])
    lowered = name.lower()
    for key in headers:
        # Only ASCII keys: a header name is ASCII, and str.lower() folds some other letters
        # (the Kelvin sign) into ASCII ones.
        if key == name:
            read_evidence(headers, (key,), label, into)
        elif key.isascii() and key.lower() == lowered:
            read_evidence(headers, (key,), None, into, _HEADERS)


def _has_rudderstack_mark(item: Any) -> bool:
    return isinstance(item, dict) and any(mark in item for mark in _RUDDERSTACK_MARKS)


def _is_spec_type(kind: Any) -> TypeGuard[str]:
    # `in` a frozenset hashes the value: a "type" that is an object or an array raised TypeError,
    # which escaped Pipeline.process and stalled the partition.
    return isinstance(kind, str) and kind in EVENT_TYPES


# --- consent ---------------------------------------------------------------------------------------


def _segment_consent(event: dict[str, Any]) -> Consent | None:
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    consent = context.get("consent")
    if consent is None:
        return None
    if not isinstance(consent, dict):
        return NOTHING
    preferences = consent.get("categoryPreferences")
    if preferences is None:
        # Segment lets an event with an empty consent object flow everywhere: no consent stated.
        return None
    if not isinstance(preferences, dict):
        return NOTHING
    return _category_preferences(preferences)


@interning
def _category_preferences(preferences: dict[str, Any]) -> Consent:
    granted: list[str] = []
    denied: list[str] = []
    for name, value in preferences.items():
        # Only JSON true grants: "true", 1 and null are not a user's yes.
        (granted if value is True else denied).append(name.lower())
    return Consent(frozenset(granted), frozenset(denied))


def _rudderstack_consent(event: dict[str, Any]) -> Consent | None:
    context = event.get("context")
    if not isinstance(context, dict):
        return None
    management = context.get("consentManagement")
    if management is None:
        return None
    if not isinstance(management, dict):
        return NOTHING
    return _consent_management(management)


@interning
def _consent_management(management: dict[str, Any]) -> Consent | None:
    allowed, denied = management.get("allowedConsentIds"), management.get("deniedConsentIds")
    if allowed is None and denied is None:
        return None
    denied_ids = names(denied)
    if denied_ids is None:
        return NOTHING  # a denial might hide in what can't be read: nothing is granted
    allowed_ids = names(allowed)
    return Consent(allowed_ids if allowed_ids is not None else frozenset(), denied_ids)
