"""Generic JSON events: a format of your own, whose signal and personal fields the policy names.

It is never guessed: a payload is read as generic only on an ingest topic pinned to it,
because any JSON object would match.
"""

from __future__ import annotations

from typing import Any

from streams.formats.allowlist import Leaf, Obj, Treat
from streams.formats.base import (
    EACH,
    CollectorFormat,
    DecodedEvent,
    Path,
    PersonalFields,
    SignalFields,
    json_bytes,
)


class GenericJsonFormat(CollectorFormat):
    name = "generic"

    def __init__(self, fields: SignalFields, personal: PersonalFields) -> None:
        self.fields = fields
        self.personal = personal
        # A format of one's own has no spec to allow anything by: a copy holds the fields the
        # policy names as personal, transformed by their kind, and what a destination keeps.
        self.allowed = allowed_of(personal)
        super().__init__()

    def matches(self, document: dict[str, Any]) -> bool:
        return True

    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        return [DecodedEvent(0, document, raw=raw)]

    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        return json_bytes(event)


def allowed_of(personal: PersonalFields) -> Obj:
    """An allowlist of the personal fields a policy names for its own format, each as its kind."""
    root = Obj({})
    for kind, paths in personal.by_kind().items():
        for path in paths:
            _place(root, path, Treat(kind))
    return root


def _place(root: Obj, path: Path, treat: Treat) -> None:
    at = root
    for key in path[:-1]:
        if key == EACH or isinstance(key, int):
            return  # list positions can't be named in formats.generic; nothing of them leaves
        child = at.fields.get(key)
        if not isinstance(child, Obj):
            child = at.fields[key] = Obj({})
        at = child
    last = path[-1]
    if isinstance(last, str) and last != EACH:
        at.fields[last] = Leaf(treat)
