"""Generic JSON events: a format of your own, whose signal and personal fields the policy names.

It is never guessed: a payload is read as generic only on an ingest topic pinned to it,
because any JSON object would match.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.formats.base import CollectorFormat, DecodedEvent, Path, SignalFields


class GenericJsonFormat(CollectorFormat):
    name = "generic"

    def __init__(
        self, fields: SignalFields, identifier_paths: tuple[Path, ...], email_paths: tuple[Path, ...]
    ) -> None:
        self.fields = fields
        self.identifier_paths = identifier_paths
        self.email_paths = email_paths
        self.ip_paths = fields.ip
        super().__init__()

    def matches(self, document: dict[str, Any]) -> bool:
        return True

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        return [DecodedEvent(0, document, raw=raw)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return orjson.dumps(event)
