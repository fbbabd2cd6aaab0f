"""Collector payload formats: recognise a payload, split it into events, write one event back.

Each format module describes its collector's wire format and where its events keep
the jurisdiction signals and personal fields; `Decoder` picks the format for a payload.
"""

from streams.formats.base import CollectorFormat, DecodedEvent, Payload, PayloadError
from streams.formats.detect import BUILT_IN_FORMATS, Decoder, decode, decoder_for

__all__ = [
    "BUILT_IN_FORMATS",
    "CollectorFormat",
    "DecodedEvent",
    "Decoder",
    "Payload",
    "PayloadError",
    "decode",
    "decoder_for",
]
