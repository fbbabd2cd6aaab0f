"""Every collector format the gateway knows: the one place a new format is registered.

A format is one module in this folder (its decoder, signal and personal fields, consent reader
and default consent categories, on its `CollectorFormat` class) plus its allowlist in
`allowlists/`; listing it here makes it decodable, nameable in a policy (`FORMAT_NAMES`) and
gated by consent by default (`default_purposes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from streams.formats.base import CollectorFormat
from streams.formats.ga4 import Ga4Format
from streams.formats.generic import GenericJsonFormat
from streams.formats.segment import RudderStackFormat, SegmentFormat
from streams.formats.snowplow import SnowplowFormat, SnowplowGetFormat
from streams.formats.snowplow_enriched import SnowplowEnrichedJsonFormat, SnowplowEnrichedTsvFormat

# Detection order: the most specific test first. RudderStack before Segment, because a
# RudderStack event is a Segment event plus the fields RudderStack's server adds.
BUILT_IN_FORMATS: tuple[CollectorFormat, ...] = (
    SnowplowFormat(),
    Ga4Format(),
    SnowplowEnrichedJsonFormat(),
    RudderStackFormat(),
    SegmentFormat(),
    SnowplowGetFormat(),
    SnowplowEnrichedTsvFormat(),
)

# Every format by the name a policy gives it, as a class: the generic format is built per policy.
FORMATS_BY_NAME: Mapping[str, type[CollectorFormat]] = MappingProxyType(
    {
        format_class.name: format_class
        for format_class in (
            SegmentFormat,
            RudderStackFormat,
            SnowplowFormat,
            SnowplowGetFormat,
            SnowplowEnrichedTsvFormat,
            SnowplowEnrichedJsonFormat,
            Ga4Format,
            GenericJsonFormat,
        )
    }
)
FORMAT_NAMES: tuple[str, ...] = tuple(FORMATS_BY_NAME)


def default_purposes() -> Mapping[str, Mapping[str, Sequence[str]]]:
    """Purpose → format → the categories that grant it, from each format's own defaults."""
    purposes: dict[str, dict[str, Sequence[str]]] = {}
    for name, format_class in FORMATS_BY_NAME.items():
        for purpose, categories in format_class.consent_categories.items():
            purposes.setdefault(purpose, {})[name] = categories
    return MappingProxyType({purpose: MappingProxyType(by_format) for purpose, by_format in purposes.items()})
