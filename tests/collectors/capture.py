"""Real collector payloads from the official Python SDKs, captured offline.

Each SDK is pointed at a `CaptureServer` on 127.0.0.1 (an ephemeral port, answering
200 to everything), driven synchronously, and what it sent is returned as the Kafka
records a collector would write for it:

- `segment_records`: the Segment SDK's POST bodies as received, `{"batch": [...], ...}`,
  as a Segment-compatible HTTP-to-Kafka bridge writes them (one request, one record).
- `rudderstack_records`: one record per event, as rudder-server's Kafka destination
  writes them, with the fields its gateway adds (`request_ip`, `rudderId`, `receivedAt`).
- `snowplow_post_records`: the tracker's payload_data POST bodies as received.
- `snowplow_get_records`: the tracker's GET requests, each as one flat {param: value} object.
- `ga4_body`: a GA4 Measurement Protocol body built to Google's reference (no official
  Python SDK exists), so no capture is involved.

Segment and RudderStack calls are `SpecCall`s (see `spec_call`); Snowplow events are the
tracker's own event objects (`snowplow_events` builds a typical set).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import requests
from rudderstack.analytics import Client as RudderStackClient
from segment.analytics import Client as SegmentClient
from snowplow_tracker import (
    Emitter,
    Event,
    PageView,
    SelfDescribing,
    SelfDescribingJson,
    StructuredEvent,
    Subject,
    Tracker,
)

WRITE_KEY = "test-write-key"
# The gateway's own context entity for a declared residency (Snowplow).
RESIDENCY_SCHEMA = "iglu:io.residencygateway/residency/jsonschema/1-0-0"
PAYLOAD_DATA_SCHEMA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
SNOWPLOW_POST_PATH = "/com.snowplowanalytics.snowplow/tp2"
SNOWPLOW_GET_PATH = "/i"
SPEC_BATCH_PATH = "/v1/batch"
# Generous for a local socket; only a broken harness ever waits this long.
_TIMEOUT = 5.0
# requests honours HTTP(S)_PROXY from the environment; the capture server is always local.
_NO_PROXY = {"no_proxy": "127.0.0.1"}


class CaptureError(AssertionError):
    """An SDK did not deliver what the harness expected."""


# --- The capture server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    method: str
    path: str  # without the query string
    query: str  # the raw query string ("" for a POST)
    headers: Mapping[str, str]  # names lowercased
    body: bytes  # gunzipped when the request said Content-Encoding: gzip
    client_ip: str  # the peer address, as a collector sees it

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    capture: CaptureServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so no handler thread outlives the server.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        self._capture()

    def do_GET(self) -> None:
        self._capture()

    def _capture(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if (self.headers.get("Content-Encoding") or "").strip().lower() == "gzip":
            body = gzip.decompress(body)
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        # Recorded before the answer, so an SDK that saw its 200 has been captured.
        self.server.capture.record(
            CapturedRequest(self.command, url.path, url.query, headers, body, self.client_address[0])
        )
        answer = b'{"success":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CaptureServer:
    """A threaded HTTP server on 127.0.0.1 that records every request and answers 200.

    Use as a context manager: `with CaptureServer() as server: ... server.url ...`.
    """

    def __init__(self) -> None:
        self._requests: list[CapturedRequest] = []
        self._arrived = threading.Condition()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.capture = self
        # A short poll so shutdown() returns at once rather than after the default 0.5 s.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[CapturedRequest]:
        with self._arrived:
            return list(self._requests)

    def record(self, request: CapturedRequest) -> None:
        with self._arrived:
            self._requests.append(request)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = _TIMEOUT) -> list[CapturedRequest]:
        """The requests once `count` have arrived; CaptureError if they don't within `timeout`."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise CaptureError(f"expected {count} request(s), the server got {len(self._requests)}")
            return list(self._requests)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


# --- Segment and RudderStack (the Segment spec) ----------------------------------------------

SpecKind = Literal["track", "page", "screen", "identify", "group", "alias"]
SPEC_KINDS: tuple[SpecKind, ...] = ("track", "page", "screen", "identify", "group", "alias")

# Typical arguments per call, by the SDKs' keyword names.
_SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "track": {
        "event": "Order Completed",
        "properties": {"order_id": "o-1001", "revenue": 25.5, "currency": "EUR"},
    },
    "page": {"name": "Checkout", "category": "Shop", "properties": {"url": "https://shop.example/checkout"}},
    "screen": {"name": "Basket", "category": "Shop", "properties": {"items": 2}},
    "identify": {"traits": {"email": "jane@example.com", "name": "Jane Doe"}},
    "group": {"group_id": "acme", "traits": {"name": "Acme Ltd", "plan": "enterprise"}},
    "alias": {"previous_id": "anon-7"},
}


@dataclass(frozen=True)
class SpecCall:
    """One call of the Segment spec; Segment's and RudderStack's Python SDKs take the same arguments."""

    kind: SpecKind
    user_id: str | None = "user-42"
    anonymous_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    # The kind's own keyword arguments, by the SDK's names: event, properties, name, category,
    # traits, group_id, previous_id.
    fields: Mapping[str, Any] = field(default_factory=dict)

    def send(self, client: Any) -> None:
        # Both SDKs write into the dicts they are given (context.library; RudderStack's identify
        # copies traits into context.traits), so each send gets its own copies.
        arguments: dict[str, Any] = copy.deepcopy(dict(self.fields))
        arguments["context"] = copy.deepcopy(dict(self.context))
        arguments["user_id"] = self.user_id
        if self.kind != "alias":  # alias takes no anonymous id
            arguments["anonymous_id"] = self.anonymous_id
        getattr(client, self.kind)(**arguments)


def spec_call(
    kind: SpecKind,
    *,
    context: Mapping[str, Any] | None = None,
    user_id: str | None = "user-42",
    anonymous_id: str | None = None,
    **fields: Any,
) -> SpecCall:
    """A `kind` call with typical arguments; `fields` (SDK keyword names) replace the samples."""
    return SpecCall(kind, user_id, anonymous_id, dict(context or {}), {**_SAMPLE_FIELDS[kind], **fields})


def every_spec_call(
    *, context: Mapping[str, Any] | None = None, user_id: str | None = "user-42"
) -> list[SpecCall]:
    """One call of each of the six kinds, all with the same context."""
    return [spec_call(kind, context=context, user_id=user_id) for kind in SPEC_KINDS]


def segment_records(calls: Iterable[SpecCall], *, one_request_per_call: bool = False) -> list[bytes]:
    """The Segment SDK's POST bodies, byte for byte as received: each is one bridge record.

    By default the SDK's consumer thread sends every call in one batch; with
    `one_request_per_call` the SDK's sync_mode posts each call as a batch of its own.
    """
    return [request.body for request in _drive_spec_sdk(SegmentClient, calls, one_request_per_call)]


def rudderstack_records(
    calls: Iterable[SpecCall], request_ip: str | None = None, *, one_request_per_call: bool = False
) -> list[bytes]:
    """One record per event, as rudder-server's Kafka destination writes them.

    rudder-server's gateway adds to each event of a batch the address the request came
    from (`request_ip`: `request_ip` if given, else the SDK's address as the capture server
    saw it, 127.0.0.1), a `rudderId` derived from the event's ids, and `receivedAt`.
    """
    records = []
    for request in _drive_spec_sdk(RudderStackClient, calls, one_request_per_call):
        received_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for event in request.json()["batch"]:
            added = {
                "request_ip": request_ip if request_ip is not None else request.client_ip,
                "rudderId": _rudder_id(event),
                "receivedAt": received_at,
            }
            records.append(json.dumps({**event, **added}).encode())
    return records


def _rudder_id(event: Mapping[str, Any]) -> str:
    # Deterministic per user, as rudder-server's is (it hashes the event's ids into a UUID).
    ids = f"{event.get('anonymousId') or ''}:{event.get('userId') or ''}"
    return str(uuid.UUID(bytes=hashlib.md5(ids.encode(), usedforsecurity=False).digest(), version=4))


def _drive_spec_sdk(
    client_class: Any, calls: Iterable[SpecCall], one_request_per_call: bool
) -> list[CapturedRequest]:
    calls = list(calls)
    if not calls:
        return []
    errors: list[Exception] = []

    def on_error(error: Exception, batch: Any) -> None:
        errors.append(error)

    options = {"max_retries": 0, "timeout": _TIMEOUT, "on_error": on_error, "proxies": _NO_PROXY}
    with CaptureServer() as server:
        if one_request_per_call:
            # sync_mode posts inside each call, on this thread.
            client = client_class(WRITE_KEY, host=server.url, sync_mode=True, **options)
            for call in calls:
                call.send(client)
            expected = len(calls)
        else:
            # The SDK's normal path: calls queue up and its consumer thread posts them. The
            # consumer batches what arrives within upload_interval, so to get exactly one batch
            # it starts only once every call is queued: construct with send=False (which also
            # skips the SDK's atexit hook), then turn sending on.
            client = client_class(
                WRITE_KEY, host=server.url, send=False, upload_size=len(calls), upload_interval=0.1, **options
            )
            client.send = True
            for call in calls:
                call.send(client)
            [consumer] = client.consumers
            consumer.start()
            client.flush()  # returns once the consumer has posted the batch
            # The consumer leaves its wait for more items within upload_interval and exits.
            consumer.pause()
            expected = 1
        if errors:
            raise CaptureError(f"{client_class.__module__} failed to post: {errors[0]}")
        captured = server.wait_for(expected)
    sent = sum(len(request.json()["batch"]) for request in captured)
    if sent != len(calls) or any(request.path != SPEC_BATCH_PATH for request in captured):
        raise CaptureError(f"{len(calls)} calls, but {sent} events reached {[r.path for r in captured]}")
    return captured


# --- Snowplow -------------------------------------------------------------------------------


def residency_entity(residency: str, schema: str = RESIDENCY_SCHEMA) -> SelfDescribingJson:
    """The context entity an app attaches to declare where its user's data lives."""
    return SelfDescribingJson(schema, {"residency": residency})


def snowplow_subject(
    *, ip: str | None = None, lang: str | None = None, timezone: str | None = None, user_id: str | None = None
) -> Subject:
    subject = Subject()
    if ip is not None:
        subject.set_ip_address(ip)
    if lang is not None:
        subject.set_lang(lang)
    if timezone is not None:
        subject.set_timezone(timezone)
    if user_id is not None:
        subject.set_user_id(user_id)
    return subject


def snowplow_events(context: Sequence[SelfDescribingJson] = ()) -> list[Event]:
    """A page view, a structured event and a self-describing event, each with a custom
    `com.acme/customer` entity plus `context` (e.g. a residency entity)."""
    entities = [SelfDescribingJson("iglu:com.acme/customer/jsonschema/1-0-0", {"tier": "gold"}), *context]
    checkout = SelfDescribingJson(
        "iglu:com.acme/checkout_step/jsonschema/1-0-0", {"step": 2, "basket_value": 25.5, "currency": "EUR"}
    )
    return [
        PageView(page_url="https://shop.example/checkout", page_title="Checkout", context=list(entities)),
        StructuredEvent(
            category="shop", action="add-to-basket", label="sku-1", value=2, context=list(entities)
        ),
        SelfDescribing(event_json=checkout, context=list(entities)),
    ]


def snowplow_post_records(
    events: Iterable[Event],
    *,
    subject: Subject | None = None,
    encode_base64: bool = True,
    batch_size: int | None = None,
) -> list[bytes]:
    """The tracker's payload_data POST bodies as received (one record each).

    `batch_size` is the emitter's: events per request, all of them in one request by default.
    `encode_base64=True` sends contexts as `cx` and self-describing events as `ue_px`;
    False sends them as plain JSON in `co` and `ue_pr`.
    """
    requests_ = _drive_snowplow(events, "post", subject, encode_base64, batch_size)
    return [request.body for request in requests_]


def snowplow_get_records(
    events: Iterable[Event], *, subject: Subject | None = None, encode_base64: bool = True
) -> list[bytes]:
    """One flat JSON object {param: value} per GET request, i.e. per event."""
    requests_ = _drive_snowplow(events, "get", subject, encode_base64, None)
    return [
        json.dumps(dict(parse_qsl(request.query, keep_blank_values=True, strict_parsing=True))).encode()
        for request in requests_
    ]


def _drive_snowplow(
    events: Iterable[Event],
    method: Literal["get", "post"],
    subject: Subject | None,
    encode_base64: bool,
    batch_size: int | None,
) -> list[CapturedRequest]:
    # Building a payload writes into the event object (cx/co, subject fields): track copies,
    # so one event list can be sent in both encodings.
    events = [copy.deepcopy(event) for event in events]
    if not events:
        return []
    if method == "post":
        batch_size = batch_size or len(events)
        expected, path = math.ceil(len(events) / batch_size), SNOWPLOW_POST_PATH
    else:
        batch_size, expected, path = 1, len(events), SNOWPLOW_GET_PATH  # GET sends one event per request
    failed: list[Any] = []
    with CaptureServer() as server, requests.Session() as session:
        session.trust_env = False  # no proxy from the environment
        # The plain Emitter sends on the calling thread: input() posts when batch_size events are
        # buffered, flush() posts the rest.
        emitter = Emitter(
            server.url,
            protocol="http",
            method=method,
            batch_size=batch_size,
            request_timeout=_TIMEOUT,
            on_failure=lambda sent, unsent: failed.extend(unsent),
            session=session,
        )
        tracker = Tracker(
            "residency-tests",
            emitter,
            subject=copy.deepcopy(subject),
            app_id="shop",
            encode_base64=encode_base64,
        )
        for event in events:
            tracker.track(event)
        tracker.flush()
        if failed:
            emitter.retry_timer.cancel()  # a failed send schedules a retry thread
            raise CaptureError(f"the Snowplow emitter failed to send {len(failed)} event(s)")
        captured = server.wait_for(expected)
    if any(request.path != path for request in captured):
        raise CaptureError(f"Snowplow {method} reached {[r.path for r in captured]}, not {path}")
    return captured


# --- GA4 Measurement Protocol -------------------------------------------------------------

GA4_MAX_EVENTS = 25
_GA4_USER_LOCATION = frozenset({"city", "region_id", "country_id", "subcontinent_id", "continent_id"})
_GA4_DEVICE = frozenset(
    {
        "category",
        "language",
        "screen_resolution",
        "operating_system",
        "operating_system_version",
        "model",
        "brand",
        "browser",
        "browser_version",
    }
)
_GA4_CONSENT = frozenset({"ad_user_data", "ad_personalization"})


def ga4_event(name: str = "page_view", **params: Any) -> dict[str, Any]:
    """One Measurement Protocol event; with no params, a typical page view's."""
    if not params:
        params = {
            "page_location": "https://shop.example/checkout",
            "page_title": "Checkout",
            "session_id": "1700000000",
            "engagement_time_msec": 120,
        }
    return {"name": name, "params": params}


def ga4_body(
    *,
    client_id: str | None = "1234567890.1700000000",
    app_instance_id: str | None = None,
    user_id: str | None = None,
    timestamp_micros: int | None = None,
    user_properties: Mapping[str, Any] | None = None,
    user_location: Mapping[str, str] | None = None,
    ip_override: str | None = None,
    device: Mapping[str, Any] | None = None,
    consent: Mapping[str, str] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
) -> bytes:
    """A GA4 Measurement Protocol POST body (the JSON a /mp/collect request carries).

    A web stream identifies the browser by `client_id`; a Firebase (app) stream by
    `app_instance_id`, which replaces it. `user_properties` takes plain values,
    {"residency": "eu"}, and wraps each as the protocol's {"value": ...} (a value that is
    already a mapping is kept as it is). `events` defaults to one `ga4_event()`.
    """
    body: dict[str, Any] = {}
    if app_instance_id is not None:
        body["app_instance_id"] = app_instance_id
    elif client_id is not None:
        body["client_id"] = client_id
    else:
        raise ValueError("a GA4 body needs a client_id (web) or an app_instance_id (Firebase)")
    if user_id is not None:
        body["user_id"] = user_id
    if timestamp_micros is not None:
        body["timestamp_micros"] = timestamp_micros
    if user_properties:
        body["user_properties"] = {
            name: dict(value) if isinstance(value, Mapping) else {"value": value}
            for name, value in user_properties.items()
        }
    if user_location is not None:
        body["user_location"] = _only(user_location, _GA4_USER_LOCATION, "user_location")
    if ip_override is not None:
        body["ip_override"] = ip_override
    if device is not None:
        body["device"] = _only(device, _GA4_DEVICE, "device")
    if consent is not None:
        body["consent"] = _only(consent, _GA4_CONSENT, "consent")
        if not set(consent.values()) <= {"GRANTED", "DENIED"}:
            raise ValueError('GA4 consent values are "GRANTED" or "DENIED"')
    events = [dict(event) for event in events] if events is not None else [ga4_event()]
    if not 1 <= len(events) <= GA4_MAX_EVENTS:
        raise ValueError(f"a GA4 body carries 1 to {GA4_MAX_EVENTS} events, not {len(events)}")
    if not all(isinstance(event.get("name"), str) and event["name"] for event in events):
        raise ValueError("every GA4 event needs a name")
    body["events"] = events
    return json.dumps(body).encode()


def _only(values: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"GA4 {what} has no field(s) {sorted(unknown)}")
    return dict(values)
