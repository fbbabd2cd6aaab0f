"""Realistic collector traffic for the demo and the load tests: every format, many countries.

Payloads are what collectors really write to an ingest topic: Segment single
events and batches, RudderStack events, Snowplow payload_data bodies and GET
parameter objects, Snowplow enriched TSV, GA4 Measurement Protocol bodies. A share
declares its residency or carries an upstream country, a share has no usable
signal (quarantine) and a few are malformed (dead letters). The IPs are real public
addresses from the geolocation data, so each event's expected country is known.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from streams.classify.geolocation import IpGeolocator, default_geolocator
from streams.formats.snowplow_enriched import SnowplowEnrichedTsvFormat

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


_KINDS = (
    "segment_single", "segment_batch", "rudderstack",
    "snowplow_post", "snowplow_get", "snowplow_enriched", "ga4",
)  # fmt: skip
_ENRICHED_TSV = SnowplowEnrichedTsvFormat()
_PHONES = ("+44 20 7946 0958", "+1 415 555 0132", "+49 30 901820", "+91 98765 43210", "+33 1 42 68 53 00")


@dataclass(frozen=True)
class TrafficMix:
    # Relative weights of the collector formats.
    segment_single: float = 0.25
    segment_batch: float = 0.15
    rudderstack: float = 0.15
    snowplow_post: float = 0.15
    snowplow_get: float = 0.05
    snowplow_enriched: float = 0.10
    ga4: float = 0.15
    declared: float = 0.05  # the app declares its residency: its visitor's country, or that country's region
    upstream_country: float = 0.05  # a CDN country header, or GA4 user_location, is present
    no_usable_ip: float = 0.03  # missing or private IP: quarantined unless another signal decides
    malformed: float = 0.01  # must be dead-lettered
    # Signals that name another country than the visitor's (a traveller, a VPN, a stale declaration):
    # conflicting evidence, which the default policy holds in quarantine.
    elsewhere: float = 0.02
    # Events with an email, phone number or IP in free text (a URL query, a title, a search box),
    # where only the value scan finds it. Off by default; when 0 no random draw is spent on it,
    # so a seed's traffic is what it was before this share existed.
    free_text_pii: float = 0.0


class TrafficGenerator:
    def __init__(
        self, seed: int = 7, mix: TrafficMix = TrafficMix(), geolocator: IpGeolocator | None = None
    ) -> None:
        self._rng = random.Random(seed)
        self._mix = mix
        geo = self._geo = geolocator or default_geolocator()
        self._countries = [c for c, _ in AUDIENCE]
        self._weights = [w for _, w in AUDIENCE]
        # A handful of real networks per country, so IPs repeat the way real visitors do.
        ranges = geo.ranges_of(set(self._countries))
        self._networks = {c: r[:: max(1, len(r) // 40)] for c, r in ranges.items()}
        self._kind_weights = [getattr(mix, kind) for kind in _KINDS]
        self._here = "US"  # the country of the visitor whose payload is being made
        # The demo's declarations name a region by the default policy's map, as an app would.
        from streams.config import load_config

        self._region_of = load_config(None).country_regions()

    def payloads(self, count: int) -> Iterator[bytes]:
        for _ in range(count):
            yield self.payload()

    def payload(self) -> bytes:
        rng, mix = self._rng, self._mix
        if rng.random() < mix.malformed:
            return rng.choice(_MALFORMED)
        kind = rng.choices(_KINDS, self._kind_weights)[0]
        self._here = self._country()  # one visitor per payload: a batch's events share where they are
        if kind == "segment_single":
            return orjson.dumps(self._segment_event())
        if kind == "segment_batch":
            events = [self._segment_event() for _ in range(rng.randint(2, 5))]
            return orjson.dumps({"batch": events, "sentAt": "2026-11-28T12:00:00.000Z"})
        if kind == "rudderstack":
            return orjson.dumps(self._rudderstack_event())
        if kind == "snowplow_post":
            data = [self._snowplow_event() for _ in range(rng.randint(1, 3))]
            return orjson.dumps({"schema": SNOWPLOW_SCHEMA, "data": data})
        if kind == "snowplow_get":
            return orjson.dumps(self._snowplow_event())
        if kind == "snowplow_enriched":
            return _ENRICHED_TSV.encode(self._enriched_event(), {})
        return orjson.dumps(self._ga4_body())

    def _ip(self) -> str | None:
        rng = self._rng
        if rng.random() < self._mix.no_usable_ip:
            return rng.choice((None, "10.1.2.3", "192.168.0.12", "fe80::1"))
        first, last = rng.choice(self._networks[self._signal_country()])
        return str(ipaddress.IPv4Address(rng.randint(first, last)))

    def _country(self) -> str:
        return self._rng.choices(self._countries, self._weights)[0]

    def _signal_country(self) -> str:
        """The visitor's country, as one signal names it: now and then another (a traveller, a VPN)."""
        return self._country() if self._rng.random() < self._mix.elsewhere else self._here

    def _declared(self) -> str | None:
        """A residency the app declares: mostly a region id, sometimes a country."""
        rng = self._rng
        if rng.random() >= self._mix.declared:
            return None
        country = self._signal_country()
        return rng.choice((self._region_of[country], country))

    def _upstream_country(self) -> str | None:
        rng = self._rng
        if rng.random() >= self._mix.upstream_country:
            return None
        return rng.choice((self._signal_country(), self._signal_country(), "XX"))  # XX: the CDN didn't know

    def _person(self) -> tuple[str, str, str]:
        rng = self._rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        number = rng.randint(1, 50_000)
        return f"user-{number}", f"{first} {last}".title(), f"{first}.{last}{number}@example.com"

    def _free_text_pii(self, email: str) -> tuple[str, str] | None:
        """With the mix's share: (query string, free text) carrying personal data, else None."""
        rng, share = self._rng, self._mix.free_text_pii
        if not share or rng.random() >= share:
            return None
        number = rng.randint(1, 250)
        kind = rng.choice(("email", "phone", "ip"))
        if kind == "email":
            return f"?email={email.replace('@', '%40')}&ref=mail", f"Order for {email}"
        if kind == "phone":
            phone = rng.choice(_PHONES)
            return f"?ref=sms&n={number}", f"Call me back on {phone}"
        ip = f"{rng.randint(11, 99)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return f"?ref=proxy&client={ip}", f"Request from {ip}"

    def _segment_event(self) -> dict[str, object]:
        rng = self._rng
        user_id, name, email = self._person()
        pii = self._free_text_pii(email)
        context: dict[str, object] = {
            "library": {"name": "analytics-python", "version": "2.3.3"},
            "userAgent": rng.choice(_USER_AGENTS),
            "locale": rng.choice(("en-US", "de-DE", "fr-FR", "hi-IN", "zh-CN", "ru-RU", "pt-BR")),
        }
        ip = self._ip()
        if ip is not None:
            context["ip"] = ip
        declared, upstream = self._declared(), self._upstream_country()
        if declared is not None:
            context["residency"] = declared
        if upstream is not None:
            context["headers"] = {"cf-ipcountry": upstream}
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
        if pii is not None:
            query, text = pii
            context["page"] = {"url": "https://shop.example.com/checkout" + query, "title": "Checkout"}
            properties = event.setdefault("properties", {})
            assert isinstance(properties, dict)
            properties["note"] = text
        return event

    def _rudderstack_event(self) -> dict[str, object]:
        """What rudder-server's Kafka destination writes: a spec event plus request_ip and rudderId."""
        event = self._segment_event()
        context = event["context"]
        assert isinstance(context, dict)
        ip = context.pop("ip", None)
        if ip is not None:
            event["request_ip"] = ip
        event["rudderId"] = str(uuid.UUID(int=self._rng.getrandbits(128)))
        event["channel"] = "web"
        event["receivedAt"] = "2026-11-28T12:00:00.120Z"
        return event

    def _enriched_event(self) -> dict[str, str]:
        """A Snowplow enriched event: enrich has resolved geo_country from the IP it saw."""
        rng = self._rng
        user_id, _name, email = self._person()
        pii = self._free_text_pii(email)
        ip = self._ip()
        event = {
            "app_id": "shop",
            "platform": "web",
            "etl_tstamp": "2026-11-28 12:00:01.000",
            "collector_tstamp": "2026-11-28 12:00:00.000",
            "event": rng.choice(("page_view", "struct", "unstruct")),
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "v_tracker": "js-3.24.0",
            "v_collector": "ssc-3.2.0-kafka",
            "v_etl": "snowplow-enrich-kafka-5.1.0",
            "user_id": user_id,
            "domain_userid": str(uuid.UUID(int=rng.getrandbits(128))),
            "page_url": "https://shop.example.com" + rng.choice(_PAGES),
            "useragent": rng.choice(_USER_AGENTS),
            "br_lang": "en-US",
        }
        if pii is not None:
            event["page_url"] += pii[0]
            event["page_title"] = pii[1]
        if ip is not None and not ip.startswith(("10.", "192.168.", "fe80")):
            event["user_ipaddress"] = ip
            country = self._geo.lookup(ip).country
            if country is not None:
                event["geo_country"] = country
        return event

    def _ga4_body(self) -> dict[str, object]:
        rng = self._rng
        user_id, _name, email = self._person()
        pii = self._free_text_pii(email)
        body: dict[str, object] = {
            "client_id": f"{rng.randint(10**8, 10**9)}.{rng.randint(10**8, 10**9)}",
            "user_id": user_id,
            "timestamp_micros": 1_795_000_000_000_000 + rng.randint(0, 10**10),
            "events": [
                {"name": rng.choice(("page_view", "purchase", "add_to_cart")),
                 "params": {"page_location": "https://shop.example.com" + rng.choice(_PAGES),
                            "value": round(rng.uniform(5, 400), 2), "currency": "USD"}}
                for _ in range(rng.randint(1, 3))
            ],
        }  # fmt: skip
        if pii is not None:
            events = body["events"]
            assert isinstance(events, list)
            events[0]["params"]["page_location"] += pii[0]
            events[0]["params"]["search_term"] = pii[1]
        ip = self._ip()
        if ip is not None:
            body["ip_override"] = ip
        upstream = self._upstream_country()
        if upstream is not None:
            body["user_location"] = {"country_id": upstream}
        declared = self._declared()
        if declared is not None:
            body["user_properties"] = {"residency": {"value": declared}}
        return body

    def _snowplow_event(self) -> dict[str, str]:
        rng = self._rng
        user_id, _name, email = self._person()
        pii = self._free_text_pii(email)
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
        if pii is not None:
            event["url"] += pii[0]
            event["page"] = pii[1]
        ip = self._ip()
        if ip is not None:
            event["ip"] = ip
        return event
