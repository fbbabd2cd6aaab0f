"""The whole path of one ingest record: decode → classify → route → transform → outcome.

Pure: bytes in, records to write out, no Kafka. Every input yields at least one
output (routed, quarantined or dead-lettered); nothing vanishes. The Kafka
engine and `explain` both call `Pipeline.process`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streams.classify.geolocation import Geolocator
from streams.classify.jurisdiction import Jurisdictions, geolocator_for
from streams.config import GatewayConfig
from streams.formats.base import CollectorFormat, PayloadError
from streams.formats.detect import decoder_for
from streams.keys.ring import KeyRing, KeyUnavailable
from streams.outcomes import EventResult, Outcomes, Source
from streams.route.plan import Router, item_bytes
from streams.subjects.erasure import parse_erasure_request
from streams.subjects.store import InMemorySubjectKeys, SubjectKeys
from streams.transform.records import transform
from streams.transform.value_scan import ScanBudget

# The value scan's budget per payload: characters it may scan and phone numbers it may validate.
PAYLOAD_SCAN_CHARS = 262_144
PAYLOAD_PHONE_VALIDATIONS = 256


class Pipeline:
    def __init__(
        self,
        config: GatewayConfig,
        keys: KeyRing,
        geolocator: Geolocator | None = None,
        subjects: SubjectKeys | None = None,
    ) -> None:
        self.config = config
        self.policy_hash = config.policy_hash()
        # Without Kafka (explain, unit tests) per-subject keys live as long as the process.
        self.subjects = subjects if subjects is not None else InMemorySubjectKeys()
        self._decoder = decoder_for(config)
        policy = config.jurisdiction
        # Which data decides the IPs, and from when (`check-config`, `explain`, `run` and /metrics say).
        self.geolocator = geolocator or geolocator_for(policy.geolocation.database)
        self._jurisdictions = Jurisdictions(
            config.country_regions(),
            self.geolocator,
            tuple(policy.signals),
            on_conflict=policy.on_conflict,
            transfers={name: region.transfers for name, region in config.regions.items()},
        )
        self._router = Router(config, keys, self.subjects)
        self._outcomes = Outcomes(config, self.policy_hash)

    def refresh_geolocation(self) -> bool:
        """Between batches: take up a replaced geolocation file (docs/jurisdiction.md); True if it did."""
        return self.geolocator.refresh()

    def set_keys(self, keys: KeyRing) -> None:
        """Use a reloaded key ring (a rotation) from the next event on."""
        self._router.set_keys(keys)

    def erasure(self, raw: bytes, source: Source, erase_subject: Callable[[str], list[str]]) -> EventResult:
        """An erasure topic's record, an input like any other: its result is the erasure's audit record,
        or, for a request that can't be read, a dead letter with its reason and coordinates.

        `erase_subject(subject)` applies the request where subjects' keys live (the Kafka subject
        store, streams/kafka/subjects.py) and returns the regions that held keys for it.
        """
        try:
            request = parse_erasure_request(raw)
        except PayloadError as bad:
            return self._outcomes.dead_lettered(raw, _unraised(bad, bad.stage), source, 0, None, None)
        return self._outcomes.erased(request.request_id, source, erase_subject(request.subject))

    def process(self, raw: bytes, source: Source, key: bytes | None = None) -> list[EventResult]:
        outcomes = self._outcomes
        try:
            payload = self._decoder.decode(raw, source.topic)
        except PayloadError as raised:
            unreadable = _unraised(raised, raised.stage)
            return [outcomes.dead_lettered(raw, unreadable, source, 0, key, None, whole_payload=True)]
        collector, envelope = payload.format, payload.envelope
        # What the value scan may spend on the whole payload: a batch can't multiply what one event
        # may cost (past it, copies keep no more scanned strings: fail closed).
        budget = ScanBudget(chars=PAYLOAD_SCAN_CHARS, validations=PAYLOAD_PHONE_VALIDATIONS)
        classify = self._jurisdictions.classify
        router = self._router
        name = collector.name
        results = []
        for event in payload.events:
            body = event.body
            index = event.index
            if event.error is not None:
                value = _event_bytes(event.raw, body, None, envelope, raw)
                results.append(outcomes.dead_lettered(value, event.error, source, index, key, name))
                continue
            stage = "classify"  # where an exception no rule foresaw arose, for its dead letter
            try:
                # Signals are read from the event as it arrived: the IP is geolocated in full,
                # before any transform truncates it.
                decision = classify(collector.signals(body))
                stage = "route"
                if decision.region is None:
                    value = event.raw if event.raw is not None else collector.encode(body, envelope)
                    event_id = router.audit_id(body, collector)
                    result = outcomes.quarantined(decision, value, source, index, key, event_id, name)
                else:
                    plan = router.route(decision, body, collector)
                    stage = "transform"
                    outputs, entry, own = transform(plan, body, event.raw, collector, envelope, key, budget)
                    entry.event_id = router.audit_id(body, collector, plan.region, own)
                    result = outcomes.decided(entry, outputs, decision, source, index)
            except KeyUnavailable:
                raise
            except PayloadError as raised:  # e.g. Snowplow contexts that aren't JSON
                # A document nested in the event (Snowplow's ue_px) that classifying didn't
                # need is first read when a copy is written: say so in the dead letter.
                moved = stage != "classify" and raised.stage == "classify"
                unreadable = _unraised(raised, "transform" if moved else raised.stage)
                value = _event_bytes(event.raw, body, collector, envelope, raw)
                result = outcomes.dead_lettered(value, unreadable, source, index, key, name)
            except Exception as exc:  # a value no rule foresaw must not stall the partition
                # Only the exception's type: its message could quote the event. The stage is the
                # pipeline's own (classify, route, transform), not "process", which named none of them.
                error = PayloadError(f"internal error: {type(exc).__name__}", stage=stage)
                value = _event_bytes(event.raw, body, collector, envelope, raw)
                result = outcomes.dead_lettered(value, error, source, index, key, name)
            results.append(result)
        return results


def _unraised(error: PayloadError, stage: str) -> PayloadError:
    """The error as one that was never raised, to keep in a result.

    A raised exception holds its traceback, whose frames hold the payload, and this
    frame's locals hold the exception: a reference cycle only the cyclic collector frees.
    Kept in results, every dead letter left its payload in memory until a collection,
    which the engine makes rare (streams/kafka/engine.py); a flood of large malformed
    payloads could then exhaust memory.
    """
    return PayloadError(error.reason, stage=stage)


def _event_bytes(
    raw: bytes | None,
    body: Any,
    collector: CollectorFormat | None,
    envelope: dict[str, Any],
    payload: bytes,
) -> bytes:
    """The event as its format writes it, for the dead-letter topic; plain JSON if even that fails.

    An event that not even plain JSON can write (nested deeper than orjson writes) is kept as
    the whole payload it came in, its position in the rg-source-index header: the dead letter
    used to hold only "<class 'dict'>", and the event was lost.
    """
    if raw is not None:
        return raw
    if collector is not None:
        try:
            return collector.encode(body, envelope)
        except Exception:  # noqa: S110  the event is already failing; its bytes must still be kept
            pass
    value = item_bytes(body)
    return value if value is not None else payload
