"""Numbered canary events, what each should become, and how to recognise them in any output.

Every input carries its id (`f<run>-<n>`, n in nine digits: a generated id's shape,
which copies keep as it is) in its messageId, and personal canaries built from the
same number (`canary-user-<n>`, `canary-mail-<n>@example.com`, a phone in free text).
An id makes every output traceable to its input; a canary found outside the event's
home region (or an unkeyed hash of one) is a leak.
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
import re
from collections import Counter
from dataclasses import dataclass

import orjson

from streams.classify.geolocation import default_geolocator
from streams.config import GatewayConfig
from streams.keys.ring import KeyRing
from streams.outcomes import Source
from streams.pipeline import Pipeline

# Where the canaries come from, with the share of traffic each gets.
COUNTRIES = (("DE", 30), ("FR", 10), ("US", 25), ("IN", 10), ("BR", 10), ("CN", 8), ("RU", 7))
PRIVATE_SHARE = 0.02  # private addresses: no signal, so quarantined
# An input's id: `<run>-e<number>`. The letter keeps the run's hex and the number from joining into
# one digit run: `fc40199-000000123` holds 14 digits in a row, a Luhn-valid card number for one
# number in ten, which the value scan replaces in copies (as it must), and the run lost its ids.
ID_PATTERN = re.compile(rb"f[0-9a-f]{6}-e\d+")
_HEX_TOKEN = re.compile(rb"\b[0-9a-f]{32}\b|\b[0-9a-f]{40}\b|\b[0-9a-f]{64}\b")


@dataclass(frozen=True)
class CanaryEvent:
    event_id: str
    payload: bytes
    canaries: tuple[str, ...]
    poison: bool = False


def event_id_of(run: str, number: int) -> str:
    """The shape of a generated id (it leaves as it is), with no digit run a scan reads as a number."""
    return f"{run}-e{number:09d}"


class CanaryFactory:
    """Deterministic canary traffic for one run."""

    def __init__(self, run: str, seed: int = 11) -> None:
        self._run = run
        self._rng = random.Random(seed)
        ranges = default_geolocator().ranges_of({country for country, _ in COUNTRIES})
        self._networks = {
            country: networks[:: max(1, len(networks) // 20)] for country, networks in ranges.items()
        }
        self._countries = [country for country, _ in COUNTRIES]
        self._weights = [weight for _, weight in COUNTRIES]

    def event(self, number: int) -> CanaryEvent:
        rng = self._rng
        event_id = event_id_of(self._run, number)
        user, mail, phone = (
            f"canary-user-{number}",
            f"canary-mail-{number}@example.com",
            f"+1 415 555 {number % 10_000:04d}",
        )
        if rng.random() < PRIVATE_SHARE:
            ip = "10.9.8.7"
        else:
            first, last = rng.choice(self._networks[rng.choices(self._countries, self._weights)[0]])
            ip = str(ipaddress.IPv4Address(rng.randint(first, last)))
        event = {
            "type": "track",
            "event": "Order Completed",
            "messageId": event_id,
            "userId": user,
            "anonymousId": f"canary-anon-{number}",
            "timestamp": "2026-11-29T12:34:56.000Z",
            "properties": {"order": number, "price": 12.5, "note": f"call me on {phone} or write to {mail}"},
            "context": {
                "ip": ip,
                "traits": {"email": mail, "name": f"Canary Person{number}"},
                "page": {"path": "/checkout", "url": f"https://shop.example/checkout?email={mail}"},
                "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
            },
        }
        return CanaryEvent(event_id, orjson.dumps(event), (user, mail, f"canary-anon-{number}"))

    def poison(self, number: int) -> CanaryEvent:
        """A malformed payload that still names its id (and a canary), so its dead letter is traceable."""
        event_id = event_id_of(self._run, number)
        mail = f"canary-mail-{number}@example.com"
        shapes = (
            b'{"messageId": "%s", "type": "track", "userId": "%s", "context": {"ip": '
            % (event_id.encode(), mail.encode()),
            b'["%s", "%s"]' % (event_id.encode(), mail.encode()),
            b"\xff\xfe%s %s" % (event_id.encode(), mail.encode()),
        )
        return CanaryEvent(event_id, self._rng.choice(shapes), (mail,), poison=True)


def expected_outputs(
    config: GatewayConfig, keys: KeyRing, events: list[CanaryEvent]
) -> dict[str, Counter[str]]:
    """Per event id, the topics (with multiplicity) the pure pipeline says it must reach, audit included."""
    pipeline = Pipeline(config, keys)
    expected: dict[str, Counter[str]] = {}
    for offset, event in enumerate(events):
        topics: Counter[str] = Counter()
        for result in pipeline.process(event.payload, Source("expected", 0, offset)):
            topics.update(output.topic for output in result.outputs)
            topics[config.topics.audit] += 1
        expected[event.event_id] = topics
    return expected


def hashed_forms(events: list[CanaryEvent]) -> set[bytes]:
    """MD5, SHA-1 and SHA-256 hex of every canary: an unkeyed hash is as good as the value."""
    forms: set[bytes] = set()
    for event in events:
        for canary in event.canaries:
            for algorithm in (hashlib.md5, hashlib.sha1, hashlib.sha256):
                forms.add(algorithm(canary.encode()).hexdigest().encode())
    return forms


def leaks_in(value: bytes, hashes: set[bytes]) -> int:
    """How many canaries (in the clear or as an unkeyed hash) a record outside the home region holds."""
    found = value.count(b"canary-")
    if hashes:
        found += sum(1 for token in _HEX_TOKEN.findall(value) if token in hashes)
    return found
