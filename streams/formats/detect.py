"""Turn raw ingest bytes into a decoded payload of a known collector format."""

from __future__ import annotations

import orjson

from streams.formats.base import CollectorFormat, Payload, PayloadError
from streams.formats.segment import SegmentFormat
from streams.formats.snowplow import SnowplowFormat

_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_TYPE_NAMES[type(None)] = "null"

# Order matters only for payloads two formats could both claim; none do today.
FORMATS: tuple[CollectorFormat, ...] = (SnowplowFormat(), SegmentFormat())


def decode(raw: bytes) -> Payload:
    """Parse and split a payload; raises PayloadError with a reason that never quotes the input."""
    if not raw:
        raise PayloadError("empty payload")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson's message gives the position only (e.g. "unexpected character: line 1
        # column 5 (char 4)"), never the content, so it is safe to carry.
        raise PayloadError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError(f"payload is a JSON {_JSON_TYPE_NAMES[type(document)]}, not an object")
    for collector in FORMATS:
        if collector.matches(document):
            return Payload(collector, document, collector.split(document, raw))
    raise PayloadError("payload matches no supported collector format")
