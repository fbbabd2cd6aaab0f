"""Segment-spec events (also what RudderStack and Jitsu send): single events or {"batch": [...]}."""

from __future__ import annotations

from typing import Any

import orjson

from streams.formats.base import CollectorFormat, DecodedEvent, PayloadError

EVENT_TYPES = frozenset({"track", "page", "screen", "identify", "group", "alias"})


class SegmentFormat(CollectorFormat):
    name = "segment"
    identifier_paths = (("userId",), ("anonymousId",), ("previousId",))
    email_paths = (
        ("traits", "email"),
        ("context", "traits", "email"),
        ("properties", "email"),
    )
    ip_paths = (("context", "ip"),)

    def matches(self, document: dict[str, Any]) -> bool:
        return isinstance(document.get("batch"), list) or document.get("type") in EVENT_TYPES

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        if "batch" not in document:
            return [_checked(0, document, raw)]
        batch = document["batch"]
        if not batch:
            raise PayloadError("segment batch is empty")
        shared_context = document.get("context")
        events = []
        for index, item in enumerate(batch):
            if isinstance(item, dict) and isinstance(shared_context, dict):
                # The HTTP API lets a batch carry context for all its events; each
                # event leaves as a single event, so it takes that context along.
                own = item.get("context")
                item = {**item, "context": {**shared_context, **(own if isinstance(own, dict) else {})}}
            events.append(_checked(index, item, None))
        return events

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return orjson.dumps(event)


def _checked(index: int, item: Any, raw: bytes | None) -> DecodedEvent:
    if not isinstance(item, dict):
        return DecodedEvent(index, item, PayloadError("segment event is not a JSON object"))
    kind = item.get("type")
    if kind not in EVENT_TYPES:
        reason = (
            "segment event has no type" if kind is None else "segment event type is not one of the spec's"
        )
        return DecodedEvent(index, item, PayloadError(reason))
    return DecodedEvent(index, item, raw=raw)
