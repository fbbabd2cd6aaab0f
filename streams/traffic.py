"""Realistic collector traffic for the demo and the load tests: many formats, many countries.

Payloads are what collectors really write to an ingest topic: Segment single
events and batches, Snowplow payload_data bodies, a share with no usable IP
(quarantine) and a few malformed ones (dead letters). The IPs are real public
addresses from the geolocation data, so each event's expected country is known.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from streams.geolocation import IpGeolocator, default_geolocator

# (country, weight): roughly a global consumer site's audience.
AUDIENCE = (
    ("US", 22), ("DE", 8), ("FR", 6), ("GB", 6), ("ES", 3), ("IT", 3), ("NL", 2), ("PL", 2),
    ("SE", 2), ("CH", 1), ("NO", 1), ("IN", 10), ("CN", 6), ("RU", 4), ("BR", 6), ("JP", 4),
    ("CA", 3), ("AU", 2), ("MX", 2), ("NG", 1), ("ZA", 1), ("KR", 2), ("ID", 2), ("PR", 1),
)  # fmt: skip
SNOWPLOW_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
_PRODUCTS = ("sku-1001", "sku-2044", "sku-3130", "sku-4200", "sku-5551")
_PAGES = ("/", "/pricing", "/blog/residency", "/checkout", "/docs/getting-started")
_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
)
_FIRST = ("ana", "li", "olga", "raj", "maria", "john", "yuki", "fatima", "lucas", "emma")
_LAST = ("silva", "wang", "ivanova", "sharma", "garcia", "smith", "tanaka", "khan", "muller", "rossi")
_MALFORMED = (
    b'{"type": "track", "event": "Order Completed", "properties": {"revenue": 1',  # cut off
    b"[1, 2, 3]",
    b'{"type": "purchase", "event": "not a spec type"}',
    b"\x00\x01binary\xff garbage",
    b'{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", "data": "nope"}',
)


@dataclass(frozen=True)
class TrafficMix:
    segment_single: float = 0.40
    segment_batch: float = 0.25  # the rest is Snowplow
    no_usable_ip: float = 0.03  # missing or private IP: must be quarantined
    malformed: float = 0.01  # must be dead-lettered


class TrafficGenerator:
    def __init__(
        self, seed: int = 7, mix: TrafficMix = TrafficMix(), geolocator: IpGeolocator | None = None
    ) -> None:
        self._rng = random.Random(seed)
        self._mix = mix
        geo = geolocator or default_geolocator()
        self._countries = [c for c, _ in AUDIENCE]
        self._weights = [w for _, w in AUDIENCE]
        # A handful of real networks per country, so IPs repeat the way real visitors do.
        ranges = geo.ranges_of(set(self._countries))
        self._networks = {c: r[:: max(1, len(r) // 40)] for c, r in ranges.items()}

    def payloads(self, count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield self.payload()

    def payload(self) -> bytes:
        rng, mix = self._rng, self._mix
        roll = rng.random()
        if roll < mix.malformed:
            return rng.choice(_MALFORMED)
        roll = rng.random()
        if roll < mix.segment_single:
            return orjson.dumps(self._segment_event())
        if roll < mix.segment_single + mix.segment_batch:
            events = [self._segment_event() for _ in range(rng.randint(2, 5))]
            return orjson.dumps({"batch": events, "sentAt": "2026-11-28T12:00:00.000Z"})
        data = [self._snowplow_event() for _ in range(rng.randint(1, 3))]
        return orjson.dumps({"schema": SNOWPLOW_SCHEMA, "data": data})

    def _ip(self) -> str | None:
        rng = self._rng
        if rng.random() < self._mix.no_usable_ip:
            return rng.choice((None, "10.1.2.3", "192.168.0.12", "fe80::1"))
        country = rng.choices(self._countries, self._weights)[0]
        first, last = rng.choice(self._networks[country])
        return str(ipaddress.IPv4Address(rng.randint(first, last)))

    def _person(self) -> tuple[str, str, str]:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        number = rng.randint(1, 50_000)
        return f"user-{number}", f"{first} {last}".title(), f"{first}.{last}{number}@example.com"

    def _segment_event(self) -> dict[str, object]:
        rng = self._rng
        user_id, name, email = self._person()
        context: dict[str, object] = {
            "library": {"name": "analytics-python", "version": "2.3.3"},
            "userAgent": rng.choice(_USER_AGENTS),
            "locale": rng.choice(("en-US", "de-DE", "fr-FR", "hi-IN", "zh-CN", "ru-RU", "pt-BR")),
        }
        ip = self._ip()
        if ip is not None:
            context["ip"] = ip
        event: dict[str, object] = {
            "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": "2026-11-28T12:00:00.000Z",
            "anonymousId": str(uuid.UUID(int=rng.getrandbits(128))),
            "context": context,
        }
        kind = rng.choices(("track", "page", "identify"), (5, 3, 1))[0]
        event["type"] = kind
        if kind == "track":
            event["userId"] = user_id
            event["event"] = rng.choice(("Order Completed", "Product Viewed", "Signed Up"))
            event["properties"] = {
                "product_id": rng.choice(_PRODUCTS),
                "price": round(rng.uniform(5, 400), 2),
                "currency": "USD",
            }
        elif kind == "page":
            event["name"] = "Docs"
            event["properties"] = {"path": rng.choice(_PAGES), "title": "Residency Gateway"}
        else:
            event["userId"] = user_id
            event["traits"] = {"email": email, "name": name, "plan": rng.choice(("free", "pro"))}
        return event

    def _snowplow_event(self) -> dict[str, str]:
        rng = self._rng
        user_id, _name, _email = self._person()
        event = {
            "e": rng.choice(("pv", "pp", "se")),
            "p": "web",
            "tv": "js-3.24.0",
            "aid": "shop",
            "eid": str(uuid.UUID(int=rng.getrandbits(128))),
            "dtm": str(1_795_000_000_000 + rng.randint(0, 10**8)),
            "duid": str(uuid.UUID(int=rng.getrandbits(128))),
            "uid": user_id,
            "url": "https://shop.example.com" + rng.choice(_PAGES),
            "ua": rng.choice(_USER_AGENTS),
            "lang": "en-US",
        }
        ip = self._ip()
        if ip is not None:
            event["ip"] = ip
        return event
