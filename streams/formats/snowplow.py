"""Snowplow tracker-protocol POST bodies: a payload_data envelope holding a "data" array of events."""

from __future__ import annotations

from typing import Any

import orjson

from streams.formats.base import CollectorFormat, DecodedEvent, PayloadError

PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/"


class SnowplowFormat(CollectorFormat):
    name = "snowplow"
    # Tracker-protocol parameters: user id, domain user id, network user id and its override.
    identifier_paths = (("uid",), ("duid",), ("nuid",), ("tnuid",))
    ip_paths = (("ip",),)

    def matches(self, document: dict[str, Any]) -> bool:
        schema = document.get("schema")
        return isinstance(schema, str) and schema.startswith(PAYLOAD_DATA_SCHEMA)

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        data = document.get("data")
        if not isinstance(data, list):
            raise PayloadError("snowplow payload_data has no data array")
        if not data:
            raise PayloadError("snowplow payload_data has an empty data array")
        events = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                events.append(DecodedEvent(index, item, PayloadError("snowplow event is not a JSON object")))
            elif not isinstance(item.get("e"), str):
                events.append(DecodedEvent(index, item, PayloadError("snowplow event has no event type (e)")))
            else:
                events.append(DecodedEvent(index, item, raw=raw if len(data) == 1 else None))
        return events

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        # One event per record, still a valid payload_data body for Snowplow enrich.
        return orjson.dumps({"schema": envelope["schema"], "data": [event]})
