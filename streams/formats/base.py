"""What every collector format provides, and the plain data a decoded payload becomes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

Path = tuple[str, ...]  # keys from the event's root to a field, e.g. ("context", "ip")


class PayloadError(Exception):
    """A payload or event the gateway can't process.

    The message names the problem and never echoes the payload, because the
    dead-letter topic and the logs sit outside the event's home region.
    """

    def __init__(self, reason: str, stage: str = "decode") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@dataclass(slots=True)
class DecodedEvent:
    """One event of a payload, with the payload-level context it needs to be written back."""

    index: int  # position in the payload
    body: Any  # the event's JSON object; when `error` is set, whatever the item was
    error: PayloadError | None = None
    # The exact bytes to write for the full event, when the payload *is* this event.
    raw: bytes | None = None


@dataclass(slots=True)
class Payload:
    format: CollectorFormat
    envelope: dict[str, Any]  # the payload document; batch formats keep their wrapper here
    events: list[DecodedEvent]


class CollectorFormat(ABC):
    """A collector's wire format. Subclasses are stateless singletons."""

    name: ClassVar[str]
    # Where this format keeps personal fields, by kind; pseudonymization reads these.
    identifier_paths: ClassVar[tuple[Path, ...]] = ()
    email_paths: ClassVar[tuple[Path, ...]] = ()
    ip_paths: ClassVar[tuple[Path, ...]] = ()

    @abstractmethod
    def matches(self, document: dict[str, Any]) -> bool:
        """Whether a decoded JSON payload is of this format."""

    @abstractmethod
    def split(self, document: dict[str, Any], raw: bytes) -> list[DecodedEvent]:
        """The payload's events, each checked; raises PayloadError if the payload itself is unusable."""

    @abstractmethod
    def encode(self, event: dict[str, Any], envelope: dict[str, Any]) -> bytes:
        """Serialize one event as a payload of this format, so downstream tools read it unchanged."""

    def ip_of(self, event: dict[str, Any]) -> str | None:
        for path in self.ip_paths:
            value = get_path(event, path)
            if isinstance(value, str) and value:
                return value
        return None


def get_path(document: dict[str, Any], path: Path) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
        if node is None:
            return None
    return node
