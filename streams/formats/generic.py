"""Generic JSON events: a format of your own, whose signal and personal fields the policy names.

It is never guessed: a payload is read as generic only on an ingest topic pinned to it,
because any JSON object would match.
"""

from __future__ import annotations

from typing import Any

from streams.formats.base import CollectorFormat, DecodedEvent, PersonalFields, SignalFields, json_bytes


class GenericJsonFormat(CollectorFormat):
    name = "generic"

    def __init__(self, fields: SignalFields, personal: PersonalFields) -> None:
        self.fields = fields
        self.personal = personal
        super().__init__()

    def matches(self, document: dict[str, Any]) -> bool:
        return True

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        return [DecodedEvent(0, document, raw=raw)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)
