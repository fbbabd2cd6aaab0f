"""Turn raw ingest bytes into a decoded payload: the topic's pinned format, or the one the payload matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from streams.formats.base import (
    SIGNAL_NAMES,
    CollectorFormat,
    Path,
    Payload,
    PayloadError,
    PersonalFields,
    SignalFields,
    parse_path,
)
from streams.formats.exact_json import BigInt, JsonRefused, read_json
from streams.formats.generic import GenericJsonFormat
from streams.formats.registry import BUILT_IN_FORMATS

if TYPE_CHECKING:  # formats read a config they are given; the config reads the formats' registry
    from streams.config import FieldPath, GatewayConfig, SignalFieldOverrides

_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_JSON_TYPE_NAMES[type(None)] = "null"
_JSON_TYPE_NAMES[BigInt] = "number"

# Events one payload may hold (formats.max_events_per_payload). Collectors batch tens to hundreds
# (the Segment and RudderStack libraries flush at 20-100, GA4 allows 25, Snowplow trackers send
# 1-10 per request); a payload of thousands is an attack or a bug, and would stall its partition.
MAX_EVENTS_PER_PAYLOAD = 500


class Decoder:
    """Decodes payloads with the formats a policy configures; safe to share between threads."""

    def __init__(
        self,
        formats: tuple[CollectorFormat, ...] = BUILT_IN_FORMATS,
        pinned: Mapping[str, CollectorFormat] | None = None,
        max_events: int = MAX_EVENTS_PER_PAYLOAD,
    ) -> None:
        self.formats = {collector.name: collector for collector in formats}
        self._max_events = max_events
        self._json_formats = tuple(f for f in formats if f.reads_json and f.name != GenericJsonFormat.name)
        self._text_formats = tuple(f for f in formats if not f.reads_json)
        self._pinned = dict(pinned or {})

    def decode(self, raw: bytes, topic: str | None = None) -> Payload:
        """Parse and split a payload; raises PayloadError with a reason that never quotes the input."""
        payload = self._decoded(raw, topic)
        count = len(payload.events)
        if count > self._max_events:
            # One payload is one unit of work: thousands of events in one (a Segment batch of tiny
            # events) would stall its partition. Held whole, with the reason; a replay can take it.
            raise PayloadError(
                f"payload holds {count} events, more than formats.max_events_per_payload ({self._max_events})"
            )
        return payload

    def _decoded(self, raw: bytes, topic: str | None) -> Payload:
        if not raw:
            raise PayloadError("empty payload")
        pinned = self._pinned.get(topic) if topic is not None else None
        if pinned is not None and not pinned.reads_json:
            if not pinned.matches_text(raw):
                raise PayloadError(f"payload is not {pinned.name}, the format pinned for its topic")
            return Payload(pinned, {}, pinned.split({}, raw))
        if pinned is None and raw[:1] != b"{":
            for text_format in self._text_formats:
                if text_format.matches_text(raw):
                    return Payload(text_format, {}, text_format.split({}, raw))
        try:
            document = read_json(raw)
        except JsonRefused as refused:
            # The detail is orjson's position (e.g. "unexpected character: line 1 column 5
            # (char 4)"); neither it nor any reason quotes the payload.
            reason = f"not valid JSON: {refused.detail}" if refused.detail else f"payload {refused.reason}"
            raise PayloadError(reason) from None
        if not isinstance(document, dict):
            raise PayloadError(f"payload is a JSON {_JSON_TYPE_NAMES[type(document)]}, not an object")
        if pinned is not None:
            if not pinned.matches(document):
                raise PayloadError(f"payload is not {pinned.name}, the format pinned for its topic")
            return Payload(pinned, document, pinned.split(document, raw))
        for collector in self._json_formats:
            if collector.matches(document):
                return Payload(collector, document, collector.split(document, raw))
        raise PayloadError("payload matches no supported collector format")


def decoder_for(config: GatewayConfig) -> Decoder:
    """The formats as the policy configures them: field overrides, the generic format, pinned topics."""
    enabled: set[str] = set(config.jurisdiction.signals)
    formats: list[CollectorFormat] = []
    for built_in in BUILT_IN_FORMATS:
        overrides = config.jurisdiction.fields.get(built_in.name)
        formats.append(built_in.with_fields(_fields(built_in.fields, overrides, enabled)))
    generic = config.formats.generic
    if generic is not None:
        fields = SignalFields(*(_paths(getattr(generic, name)) for name in SIGNAL_NAMES))
        personal = PersonalFields(
            user_id=_paths(generic.identifiers),
            email=_paths(generic.emails),
            phone=_paths(generic.phones),
            name=_paths(generic.names),
            ip=fields.ip,
            geo=_paths(generic.geo),
            user_agent=_paths(generic.user_agents),
            timestamp=_paths(generic.timestamps),
        )
        formats.append(GenericJsonFormat(_only(fields, enabled), personal))
    by_name = {collector.name: collector for collector in formats}
    pinned = {topic: by_name[name] for topic, name in config.topics.ingest_formats.items()}
    return Decoder(tuple(formats), pinned, config.formats.max_events_per_payload)


def _fields(
    defaults: SignalFields, overrides: SignalFieldOverrides | None, enabled: set[str]
) -> SignalFields:
    paths = defaults.in_order()
    if overrides is not None:
        paths = tuple(
            default if (override := getattr(overrides, name)) is None else _paths(override)
            for name, default in zip(SIGNAL_NAMES, paths, strict=True)
        )
    return _only(SignalFields(*paths), enabled)


def _only(fields: SignalFields, enabled: set[str]) -> SignalFields:
    # A signal the policy doesn't use isn't even read: no cost, and no evidence to explain.
    return SignalFields(
        *(
            paths if name in enabled else ()
            for name, paths in zip(SIGNAL_NAMES, fields.in_order(), strict=True)
        )
    )


def _paths(values: list[FieldPath]) -> tuple[Path, ...]:
    return tuple(parse_path(value) if isinstance(value, str) else tuple(value) for value in values)


_DEFAULT_DECODER = Decoder()


def decode(raw: bytes) -> Payload:
    """Decode with the built-in formats and their default fields (tests, tools)."""
    return _DEFAULT_DECODER.decode(raw)
