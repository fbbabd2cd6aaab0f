"""The whole path of one ingest record: decode → classify → transform → route.

Pure: bytes in, records to write out, no Kafka. Every input yields at least one
output (routed, quarantined or dead-lettered); nothing vanishes. The Kafka
engine and `explain` both call `Pipeline.process`.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.config import GatewayConfig
from streams.formats import PayloadError, decode
from streams.geolocation import IpGeolocator, default_geolocator
from streams.jurisdiction import Decision, Jurisdictions
from streams.keys import KeyRing, KeyUnavailable
from streams.routing import Output, Router, Source, item_bytes


@dataclass(slots=True)
class EventResult:
    index: int  # position of the event within its payload
    decision: Decision | None  # None when the event couldn't be decoded
    outputs: list[Output]
    error: PayloadError | None = None


class Pipeline:
    def __init__(self, config: GatewayConfig, keys: KeyRing, geolocator: IpGeolocator | None = None) -> None:
        self.config = config
        self._jurisdictions = Jurisdictions(config.country_regions(), geolocator or default_geolocator())
        self._router = Router(config, keys)

    def process(self, raw: bytes, source: Source, key: bytes | None = None) -> list[EventResult]:
        router = self._router
        try:
            payload = decode(raw)
        except PayloadError as undecodable:
            dead = router.dead_lettered(raw, undecodable, source, 0, key)
            return [EventResult(0, None, [dead], undecodable)]
        collector, envelope = payload.format, payload.envelope
        results = []
        for event in payload.events:
            body = event.body
            if event.error is not None:
                value = item_bytes(body)
                dead = router.dead_lettered(value, event.error, source, event.index, key)
                results.append(EventResult(event.index, None, [dead], event.error))
                continue
            try:
                decision = self._jurisdictions.classify(collector.ip_of(body))
                if decision.region is None:
                    value = event.raw if event.raw is not None else collector.encode(body, envelope)
                    outputs = [router.quarantined(decision, value, source, event.index, key)]
                else:
                    outputs = router.routed(decision, body, event.raw, collector, envelope, key)
            except KeyUnavailable:
                raise
            except Exception as exc:  # a value no rule foresaw must not stall the partition
                # Only the exception's type: its message could quote the event.
                error = PayloadError(f"internal error: {type(exc).__name__}", stage="process")
                dead = router.dead_lettered(item_bytes(body), error, source, event.index, key)
                results.append(EventResult(event.index, None, [dead], error))
                continue
            results.append(EventResult(event.index, decision, outputs))
        return results
