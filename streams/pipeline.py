"""The whole path of one ingest record: decode → classify → transform → route.

Pure: bytes in, records to write out, no Kafka. Every input yields at least one
output (routed, quarantined or dead-lettered); nothing vanishes. The Kafka
engine and `explain` both call `Pipeline.process`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.config import GatewayConfig
from streams.formats import CollectorFormat, PayloadError
from streams.formats.detect import decoder_for
from streams.geolocation import Geolocator, geolocator_for
from streams.jurisdiction import Decision, Jurisdictions
from streams.keys import KeyRing, KeyUnavailable
from streams.routing import Output, Router, Source, item_bytes


@dataclass(slots=True)
class EventResult:
    index: int  # position of the event within its payload
    decision: Decision | None  # None when the event couldn't be decoded
    outputs: list[Output]
    error: PayloadError | None = None
    format: str | None = None  # the collector format, when the payload could be decoded


class Pipeline:
    def __init__(self, config: GatewayConfig, keys: KeyRing, geolocator: Geolocator | None = None) -> None:
        self.config = config
        self._decoder = decoder_for(config)
        policy = config.jurisdiction
        self._jurisdictions = Jurisdictions(
            config.country_regions(),
            geolocator or geolocator_for(policy.geolocation.database),
            tuple(policy.signals),
            quarantine_conflicts=policy.on_conflict == "quarantine",
        )
        self._router = Router(config, keys)

    def process(self, raw: bytes, source: Source, key: bytes | None = None) -> list[EventResult]:
        router = self._router
        try:
            payload = self._decoder.decode(raw, source.topic)
        except PayloadError as undecodable:
            dead = router.dead_lettered(raw, undecodable, source, 0, key)
            return [EventResult(0, None, [dead], undecodable)]
        collector, envelope = payload.format, payload.envelope
        classify = self._jurisdictions.classify
        name = collector.name
        results = []
        for event in payload.events:
            body = event.body
            if event.error is not None:
                value = item_bytes(body)
                dead = router.dead_lettered(value, event.error, source, event.index, key)
                results.append(EventResult(event.index, None, [dead], event.error, name))
                continue
            try:
                # Signals are read from the event as it arrived: the IP is geolocated in full,
                # before any transform truncates it.
                decision = classify(collector.signals(body))
                if decision.region is None:
                    value = event.raw if event.raw is not None else collector.encode(body, envelope)
                    outputs = [router.quarantined(decision, value, source, event.index, key)]
                else:
                    outputs = router.routed(decision, body, event.raw, collector, envelope, key)
            except KeyUnavailable:
                raise
            except PayloadError as unreadable:  # e.g. Snowplow contexts that aren't JSON
                value = _event_bytes(event.raw, body, collector, envelope)
                dead = router.dead_lettered(value, unreadable, source, event.index, key)
                results.append(EventResult(event.index, None, [dead], unreadable, name))
                continue
            except Exception as exc:  # a value no rule foresaw must not stall the partition
                # Only the exception's type: its message could quote the event.
                error = PayloadError(f"internal error: {type(exc).__name__}", stage="process")
                value = _event_bytes(event.raw, body, collector, envelope)
                dead = router.dead_lettered(value, error, source, event.index, key)
                results.append(EventResult(event.index, None, [dead], error, name))
                continue
            results.append(EventResult(event.index, decision, outputs, None, name))
        return results


def _event_bytes(raw: bytes | None, body: Any, collector: CollectorFormat, envelope: dict[str, Any]) -> bytes:
    """The event as its format writes it, for the dead-letter topic; plain JSON if even that fails."""
    if raw is not None:
        return raw
    try:
        return collector.encode(body, envelope)
    except Exception:  # the event is already failing; its bytes must still reach the dead letters
        return item_bytes(body)
