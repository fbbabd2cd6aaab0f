"""Collector payload formats: recognise a payload, split it into events, write one event back.

Each format module describes its collector's wire format and where its events keep
the fields the gateway cares about; `decode` picks the format for a payload.
"""

from streams.formats.base import CollectorFormat, DecodedEvent, Payload, PayloadError
from streams.formats.detect import FORMATS, decode

__all__ = ["FORMATS", "CollectorFormat", "DecodedEvent", "Payload", "PayloadError", "decode"]
