"""`residency-gateway collect`: the SDKs' HTTP protocols in, the ingest topic out, nothing lost.

A stateless aiohttp service, scaled apart from the workers. Each request's records go through one
idempotent producer (acks=all), and the request is answered 200 only once the broker has
acknowledged every one of them. A full producer queue is answered 503 with Retry-After, and so
is a broker that doesn't acknowledge within `collect.ack_timeout_ms`: the SDKs retry on 5xx,
and the gateway's event ids let a downstream reader drop what a retry wrote twice. What a request
becomes is decided in streams/collect/requests.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from confluent_kafka import KafkaError, Producer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streams.collect.requests import (
    SEGMENT_KINDS,
    WEBHOOK_SOURCES,
    Origin,
    Rejected,
    cdn_country,
    client_ip,
    ga4_record,
    header_values,
    inflate,
    json_document,
    networks,
    segment_records,
    signed_by,
    snowplow_get_record,
    snowplow_post_record,
    webhook_records,
    write_key,
)
from streams.config import GatewayConfig

log = logging.getLogger(__name__)

# The 1x1 transparent GIF the Snowplow pixel answers with.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
RETRY_AFTER_S = "2"
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    413: "payload_too_large",
    415: "unsupported_media_type",
    503: "unavailable",
}


class WriteKeys:
    """The accepted write keys and API secrets: the environment variable the config names (comma-
    separated) and the file it names (one per line, `#` comments), both."""

    def __init__(
        self, variable: str, environ: Mapping[str, str] | None = None, file: str | None = None
    ) -> None:
        raw = (environ if environ is not None else os.environ).get(variable, "")
        keys = {key.strip() for key in raw.split(",") if key.strip()}
        if file is not None:
            lines = Path(file).read_text().splitlines()  # OSError: the caller names the file
            keys |= {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}
        self._keys = frozenset(keys)
        self.variable = variable

    def __len__(self) -> int:
        return len(self._keys)

    def allows(self, key: str | None) -> bool:
        return key is not None and key in self._keys

    def signed(self, body: bytes, signature: str) -> bool:
        return signed_by(body, signature, self._keys)


class Acknowledger:
    """One producer for the process, and a thread serving its delivery reports into the event loop."""

    def __init__(self, settings: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.producer = Producer(settings)
        self._loop = loop
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="collect-acks", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            self.producer.poll(0.05)

    def send(self, topic: str, value: bytes) -> asyncio.Future[None]:
        """Produce one record; the future resolves once the broker has it, or fails. BufferError
        (the queue is full) is raised here, before anything was queued."""
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(error: KafkaError | None, _message: Any) -> None:
            self._loop.call_soon_threadsafe(_settle, future, error)

        self.producer.produce(topic, value, on_delivery=delivered)
        return future

    def close(self, timeout: float) -> int:
        left = self.producer.flush(timeout)
        self._running = False
        self._thread.join(2)
        return left


def _settle(future: asyncio.Future[None], error: KafkaError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError(error.str()))


class Collector:
    """The request handlers, their limits and their metrics."""

    def __init__(self, config: GatewayConfig, keys: WriteKeys, registry: CollectorRegistry) -> None:
        settings = config.collect
        self.settings = settings
        self.keys = keys
        self.trusted = networks(settings.trusted_proxies)
        first = config.topics.ingest[0]
        self.topics = {
            route: settings.topics.get(route, first) for route in ("segment", "snowplow", "ga4", "webhook")
        }
        self.acks: Acknowledger | None = None
        self.requests = Counter(
            "residency_gateway_collect_requests",
            "Requests by route and status.",
            ["route", "status"],
            registry=registry,
        )
        self.body_bytes = Counter(
            "residency_gateway_collect_body_bytes",
            "Request bytes as received, by route.",
            ["route"],
            registry=registry,
        )
        self.records = Counter(
            "residency_gateway_collect_records",
            "Records the broker acknowledged, by route.",
            ["route"],
            registry=registry,
        )
        self.ack_seconds = Histogram(
            "residency_gateway_collect_ack_seconds",
            "From a request's records produced to the broker's last acknowledgement.",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        queue = Gauge(
            "residency_gateway_collect_producer_queue",
            "Records produced, not yet acknowledged.",
            registry=registry,
        )
        queue.set_function(lambda: len(self.acks.producer) if self.acks is not None else 0)

    async def _write(self, route: str, records: list[bytes]) -> None:
        acks = self.acks
        assert acks is not None  # set at startup
        if len(acks.producer) + len(records) > self.settings.max_queued_records:
            raise Rejected(503, "the producer queue is full")
        started = time.monotonic()
        futures = []
        for value in records:
            try:
                futures.append(acks.send(self.topics[route], value))
            except BufferError:
                raise Rejected(503, "the producer queue is full") from None
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self.settings.ack_timeout_ms / 1000)
        except (TimeoutError, RuntimeError):
            # Not acknowledged: the SDK retries; what did land meanwhile is deduplicated downstream.
            raise Rejected(503, "the broker did not acknowledge the records") from None
        self.ack_seconds.observe(time.monotonic() - started)
        self.records.labels(route).inc(len(records))

    async def _body(self, request: web.Request, route: str) -> bytes:
        limit = self.settings.max_body_bytes
        raw = await request.content.read(limit + 1)
        self.body_bytes.labels(route).inc(len(raw))
        if len(raw) > limit:
            raise Rejected(413, f"body over {limit} bytes")
        return inflate(raw, request.headers.get("Content-Encoding"), limit)

    def _origin(self, request: web.Request) -> Origin:
        peer = request.transport.get_extra_info("peername")[0] if request.transport else "0.0.0.0"  # noqa: S104
        headers = header_values(request.headers.items())
        return Origin(client_ip(peer, headers, self.trusted), cdn_country(peer, headers, self.trusted))

    def handler(
        self, route: str, handle: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def counted(request: web.Request) -> web.StreamResponse:
            try:
                response = await handle(request)
            except Rejected as rejected:
                headers = {"Retry-After": RETRY_AFTER_S} if rejected.status == 503 else {}
                # The Segment API's error shape, which the Segment and RudderStack SDKs read.
                body = {
                    "success": False,
                    "code": _CODES.get(rejected.status, "error"),
                    "message": rejected.reason,
                }
                response = web.json_response(body, status=rejected.status, headers=headers)
            self.requests.labels(route, str(response.status)).inc()
            return response

        return counted

    async def segment(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind not in ("batch", *SEGMENT_KINDS):
            raise Rejected(404, "no such route")
        body = await self._body(request, "segment")
        document = json_document(body)
        if not self.keys.allows(write_key(request.headers, document)):
            raise Rejected(401, "unknown write key")
        records = segment_records(kind, document, self._origin(request), self.settings.max_event_bytes)
        await self._write("segment", records)
        return web.json_response({"success": True})

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        """A CDP's webhook destination: /webhook/segment, /webhook/rudderstack, /webhook/jitsu."""
        source = request.match_info["source"]
        if source not in WEBHOOK_SOURCES:
            raise Rejected(404, "no such webhook source")
        body = await self._body(request, "webhook")
        signature = request.headers.get("X-Signature")
        document = json_document(body)
        key = write_key(request.headers, None)  # Basic auth, as each CDP's webhook headers can carry
        allowed = self.keys.allows(key) or (signature is not None and self.keys.signed(body, signature))
        if not allowed:
            raise Rejected(401, "unknown write key or signature")
        await self._write("webhook", webhook_records(document, self.settings.max_event_bytes))
        return web.json_response({"success": True})

    async def snowplow_post(self, request: web.Request) -> web.StreamResponse:
        document = json_document(await self._body(request, "snowplow"))
        await self._write("snowplow", [snowplow_post_record(document, self._origin(request))])
        return web.json_response({"success": True})

    async def snowplow_get(self, request: web.Request) -> web.StreamResponse:
        if len(request.query_string) > self.settings.max_event_bytes:
            raise Rejected(413, "query over the event limit")
        record = snowplow_get_record(list(request.query.items()), self._origin(request))
        await self._write("snowplow", [record])
        return web.Response(body=PIXEL, content_type="image/gif", headers={"Cache-Control": "no-store"})

    async def ga4(self, request: web.Request) -> web.StreamResponse:
        if not self.keys.allows(request.query.get("api_secret")):
            raise Rejected(401, "unknown api_secret")
        if not request.query.get("measurement_id") and not request.query.get("firebase_app_id"):
            raise Rejected(400, "measurement_id (or firebase_app_id) is required")
        document = json_document(await self._body(request, "ga4"))
        await self._write("ga4", [ga4_record(document, self._origin(request))])
        return web.Response(status=204)


def build_collect_app(
    config: GatewayConfig,
    producer_settings: dict[str, Any],
    keys: WriteKeys,
) -> web.Application:
    registry = CollectorRegistry()
    collector = Collector(config, keys, registry)
    # Bodies are read by the handlers, each against the config's limit; aiohttp's own stays above it.
    app = web.Application(client_max_size=config.collect.max_body_bytes + 1)

    async def started(_app: web.Application) -> None:
        collector.acks = Acknowledger(producer_settings, asyncio.get_running_loop())

    async def stopped(_app: web.Application) -> None:
        # aiohttp has drained in-flight requests by now (shutdown_timeout): send what's queued.
        if collector.acks is not None:
            left = await asyncio.get_running_loop().run_in_executor(None, collector.acks.close, 10.0)
            if left:
                log.error("collect: %d records unacknowledged at shutdown (their requests got no 200)", left)

    async def health(_request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"status": "ok" if collector.acks is not None else "starting", "write_keys": len(keys)}
        )

    async def metrics(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.on_startup.append(started)
    app.on_cleanup.append(stopped)
    app.router.add_post("/v1/{kind}", collector.handler("segment", collector.segment))
    app.router.add_post(
        "/com.snowplowanalytics.snowplow/tp2", collector.handler("snowplow_post", collector.snowplow_post)
    )
    for path in ("/i", "/com.snowplowanalytics.snowplow/i"):
        app.router.add_get(path, collector.handler("snowplow_get", collector.snowplow_get))
    app.router.add_post("/mp/collect", collector.handler("ga4", collector.ga4))
    app.router.add_post("/webhook/{source}", collector.handler("webhook", collector.webhook))
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app["collector"] = collector
    return app
