"""Turn a decision into the records to write: which topics, which form, which headers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from streams.config import GLOBAL_REGION, GatewayConfig
from streams.formats.base import CollectorFormat, PayloadError
from streams.jurisdiction import Decision
from streams.keys import KeyRing
from streams.outcomes import Outcome
from streams.pseudonymize import Pseudonymizer

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Source:
    """Where an input record came from: the coordinates that let anyone find it again."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    value: bytes
    region: str | None  # the region whose topic this is, "global", or None (quarantine, dead letters)
    outcome: Outcome
    headers: Headers
    key: bytes | None = None


class Router:
    def __init__(self, config: GatewayConfig, keys: KeyRing) -> None:
        self._keys = keys
        self._pseudonymizers: dict[str, Pseudonymizer] = {}
        self._quarantine = config.topics.quarantine
        self._dead_letter = config.topics.dead_letter
        self._global = config.topics.global_
        version = ("rg-policy-version", config.policy_version.encode())
        self._version = version
        # Per-region constants, so the hot path only looks them up.
        self._regions = {
            name: (
                region.topic,
                region.global_copy == "pseudonymized",
                [("rg-region", name.encode()), version],
            )
            for name, region in config.regions.items()
        }

    def routed(
        self,
        decision: Decision,
        body: dict[str, Any],
        raw: bytes | None,
        collector: CollectorFormat,
        envelope: dict[str, Any],
        key: bytes | None,
    ) -> list[Output]:
        assert decision.region is not None
        topic, exports, base_headers = self._regions[decision.region]
        headers = [*base_headers, *decision.headers]
        value = raw if raw is not None else collector.encode(body, envelope)
        outputs = [Output(topic, value, decision.region, Outcome.ROUTED, headers, key)]
        if exports:
            copy = self._pseudonymizer(decision.region).copy(body, collector)
            # The input key may be a user id, so the copy leaves without it.
            outputs.append(
                Output(
                    self._global, collector.encode(copy, envelope), GLOBAL_REGION, Outcome.EXPORTED, headers
                )
            )
        return outputs

    def _pseudonymizer(self, region: str) -> Pseudonymizer:
        pseudonymizer = self._pseudonymizers.get(region)
        if pseudonymizer is None:
            # KeyUnavailable propagates on purpose: no key means hold the batch, never send in the clear.
            pseudonymizer = self._pseudonymizers[region] = Pseudonymizer(self._keys.for_region(region))
        return pseudonymizer

    def quarantined(
        self,
        decision: Decision,
        value: bytes,
        source: Source,
        index: int,
        key: bytes | None,
    ) -> Output:
        headers = [self._version, *decision.headers, *_coordinates(source, index)]
        return Output(self._quarantine, value, None, Outcome.QUARANTINED, headers, key)

    def dead_lettered(
        self, value: bytes, error: PayloadError, source: Source, index: int, key: bytes | None
    ) -> Output:
        headers = [
            self._version,
            ("rg-error", error.reason.encode()),
            ("rg-stage", error.stage.encode()),
            *_coordinates(source, index),
        ]
        return Output(self._dead_letter, value, None, Outcome.DEAD_LETTERED, headers, key)


def _coordinates(source: Source, index: int) -> Headers:
    return [
        ("rg-source-topic", source.topic.encode()),
        ("rg-source-partition", str(source.partition).encode()),
        ("rg-source-offset", str(source.offset).encode()),
        ("rg-source-index", str(index).encode()),
    ]


def item_bytes(item: Any) -> bytes:
    """A batch item on its own, for the dead-letter topic; it was JSON once, so it dumps."""
    try:
        return orjson.dumps(item)
    except TypeError:
        return repr(type(item)).encode()
