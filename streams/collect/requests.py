"""What the collector makes of one HTTP request, with no I/O: who sent it, from where, and the
ingest records it becomes. streams/collect/server.py does the HTTP and Kafka around it.

- **Who may send**: a Segment or RudderStack write key (HTTP Basic auth's user name, or the
  body's `writeKey`), a GA4 `api_secret`; Snowplow trackers send none (a browser can't keep one).
- **From where**: the client IP is the TCP peer, or, only when the peer is a trusted proxy, the
  address its `X-Forwarded-For` / `Forwarded` header names (the right-most one that isn't another
  trusted proxy). CDN country headers count only from a trusted proxy too.
- **The records**: each body as the gateway's decoders read it, with the IP (and a CDN country)
  put where the format expects them, never over a value the event already carries, and the
  write key taken out. Nothing is geolocated here: the gateway decides.

Errors never quote the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.formats.exact_json import JsonRefused, read_json, write_json
from streams.formats.segment import CDN_COUNTRY_HEADERS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SEGMENT_KINDS = ("track", "identify", "page", "screen", "group", "alias")


class Rejected(Exception):
    """A request answered with an error status; the reason is short and quotes nothing sent."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, gunzipped when it says so, refused past `limit` bytes without inflating further."""
    if encoding is None or encoding.strip().lower() in ("", "identity"):
        if len(body) > limit:
            raise Rejected(413, f"body over {limit} bytes")
        return body
    if encoding.strip().lower() != "gzip":
        raise Rejected(415, "only gzip content encoding is accepted")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        # At most limit + 1 bytes out: a gzip bomb stops here, whatever it would become.
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise Rejected(400, "the gzip body can't be read") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise Rejected(413, f"body over {limit} bytes once inflated")
    return out


def json_document(body: bytes) -> Any:
    """The body read exactly as the gateway reads it (streams/formats/exact_json.py): a body with a
    duplicate key is refused, not settled on its last value, and an integer past 64 bits keeps its
    digits. The collector rewrites what it reads, so reading it loosely would turn a payload the
    gateway holds as ambiguous into one it decides, or give two user ids one value."""
    try:
        return read_json(body)
    except JsonRefused as refused:
        raise Rejected(400, f"the body {refused}") from None


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_ip(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy that names another."""
    if not _trusted(peer, trusted):
        return peer  # what an untrusted peer says about its clients is ignored: it could say anything
    chain = _forwarded_chain(headers)
    # Right to left: each hop appended the address it saw; the first one no trusted proxy added is it.
    for address in reversed(chain):
        if not _trusted(address, trusted):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # a garbled hop: only the peer is known
    # Every hop a trusted proxy: the first is as far back as anyone says.
    if chain:
        try:
            return str(ipaddress.ip_address(chain[0]))
        except ValueError:
            pass
    return peer


def _forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    forwarded = headers.get("forwarded")
    if forwarded:
        hops = []
        for element in forwarded.split(","):
            for pair in element.split(";"):
                name, _, value = pair.strip().partition("=")
                if name.lower() == "for":
                    value = value.strip('"')
                    if value.startswith("["):  # [2001:db8::1]:4711
                        value = value[1 : value.find("]")]
                    elif value.count(":") == 1:  # 192.0.2.1:4711
                        value = value.split(":")[0]
                    hops.append(value)
        return hops
    listed = headers.get("x-forwarded-for", "")
    return [hop.strip() for hop in listed.split(",") if hop.strip()]


def header_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers by lowercased name; a header sent more than once is its values joined by commas, as
    HTTP defines it: X-Forwarded-For lines form one list, and two country headers aren't a country."""
    values: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        values[key] = f"{values[key]}, {value}" if key in values else value
    return values


def cdn_country(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> tuple[str, str] | None:
    """(header, two-letter country) a trusted proxy set; None from anyone else."""
    if not _trusted(peer, trusted):
        return None
    for header in CDN_COUNTRY_HEADERS:
        value = headers.get(header, "").strip()
        if len(value) == 2 and value.isalpha():
            return header, value.upper()
    return None


def write_key(headers: Mapping[str, str], document: Any) -> str | None:
    """A Segment or RudderStack write key: Basic auth's user name, else the body's writeKey."""
    authorization = headers.get("authorization", "")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            user, _, _password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Rejected(401, "the Authorization header can't be read") from None
        if user:
            return user
    if isinstance(document, dict) and isinstance(document.get("writeKey"), str):
        return str(document["writeKey"])
    return None


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the records should say it."""

    ip: str
    country: tuple[str, str] | None  # (CDN header, country), only from a trusted proxy


def segment_records(route: str, document: Any, origin: Origin, max_event_bytes: int) -> list[bytes]:
    """`/v1/batch` (one record: the batch) or `/v1/<kind>` (one record: the event), writeKey removed."""
    if not isinstance(document, dict):
        raise Rejected(400, "the body is not a JSON object")
    document.pop("writeKey", None)
    if route == "batch":
        batch = document.get("batch")
        if not isinstance(batch, list) or not batch:
            raise Rejected(400, "a batch needs a non-empty batch array")
        for event in batch:
            if not isinstance(event, dict):
                raise Rejected(400, "a batch item is not a JSON object")
            event.pop("writeKey", None)
            _segment_origin(event, origin)
            if len(write_json(event)) > max_event_bytes:
                raise Rejected(413, f"an event over {max_event_bytes} bytes")
        return [write_json(document)]
    document.setdefault("type", route)  # /v1/track may leave the type to the path
    if document["type"] != route:
        raise Rejected(400, f"an event whose type isn't {route} posted to /v1/{route}")  # quotes nothing sent
    _segment_origin(document, origin)
    value = write_json(document)
    if len(value) > max_event_bytes:
        raise Rejected(413, f"an event over {max_event_bytes} bytes")
    return [value]


def _segment_origin(event: dict[str, Any], origin: Origin) -> None:
    context = event.get("context")
    if context is None:
        context = event["context"] = {}
    if not isinstance(context, dict):
        return  # the gateway dead-letters what it can't read; nothing of ours goes in
    context.setdefault("ip", origin.ip)
    if origin.country is not None:
        headers = context.get("headers")
        if headers is None:
            headers = context["headers"] = {}
        # Header names are case-insensitive: an event's own CF-IPCountry is a country it carries.
        if isinstance(headers, dict) and not any(str(h).lower() in CDN_COUNTRY_HEADERS for h in headers):
            headers[origin.country[0]] = origin.country[1]


def snowplow_post_record(document: Any, origin: Origin) -> bytes:
    """A tracker's payload_data body, each event given the client IP unless it names one (`ip`)."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise Rejected(400, "not a Snowplow payload_data body")
    for event in document["data"]:
        if not isinstance(event, dict):
            raise Rejected(400, "a Snowplow event is not a JSON object")
        event.setdefault("ip", origin.ip)
    return write_json(document)


def snowplow_get_record(query: Sequence[tuple[str, str]], origin: Origin) -> bytes:
    """A tracker's GET (the pixel): its parameters as one flat object, as the gateway reads them."""
    parameters: dict[str, str] = {}
    for name, value in query:
        if name in parameters:
            # Which of two ip (or uid) values would count? The gateway holds what it can't settle.
            raise Rejected(400, "a Snowplow GET repeats a parameter")
        parameters[name] = value
    if "e" not in parameters:
        raise Rejected(400, "a Snowplow GET needs its e parameter")
    parameters.setdefault("ip", origin.ip)
    return write_json(parameters)


def ga4_record(document: Any, origin: Origin) -> bytes:
    """A Measurement Protocol body with ip_override (and user_location's country) unless it has them."""
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise Rejected(400, "not a GA4 Measurement Protocol body")
    document.setdefault("ip_override", origin.ip)
    if origin.country is not None:
        location = document.get("user_location")
        if location is None:
            location = document["user_location"] = {}
        if isinstance(location, dict):
            location.setdefault("country_id", origin.country[1])
    return write_json(document)


WEBHOOK_SOURCES = ("segment", "rudderstack", "jitsu")


def signed_by(body: bytes, signature: str, keys: Iterable[str]) -> bool:
    """Segment's webhook destination signs each body with its shared secret: X-Signature is the
    hex HMAC-SHA1 of the body. True when one of `keys` made it (compared in constant time)."""
    wanted = signature.strip().lower()
    return any(
        hmac.compare_digest(hmac.new(key.encode(), body, hashlib.sha1).hexdigest(), wanted) for key in keys
    )


def webhook_records(document: Any, max_event_bytes: int) -> list[bytes]:
    """A webhook delivery's events, each a record as it came (a single event, or a JSON array of
    them), writeKey removed. Nothing is added: the request came from the CDP's servers, so its
    address says nothing about the user; the event carries its own context.ip."""
    events = document if isinstance(document, list) else [document]
    if not events or not all(isinstance(event, dict) for event in events):
        raise Rejected(400, "a webhook body is an event object or an array of them")
    records = []
    for event in events:
        event.pop("writeKey", None)
        value = write_json(event)
        if len(value) > max_event_bytes:
            raise Rejected(413, f"an event over {max_event_bytes} bytes")
        records.append(value)
    return records
