"""`collect` on the real broker with the official SDKs: Segment's and RudderStack's, the Snowplow
tracker (POST and the GET pixel) and a GA4 Measurement Protocol body; their events reach the ingest
topic, and a running gateway routes them by the IP the collector recorded. Bad requests get their
status, and nothing of them is written."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import requests
from rudderstack.analytics import Client as RudderStackClient
from segment.analytics import Client as SegmentClient
from snowplow_tracker import Emitter, StructuredEvent, Subject, Tracker

from streams.config import GatewayConfig
from streams.keys.ring import development_keys
from streams.service.wiring import build_gateway
from tests.integration.kafka_io import fresh_config, in_thread, read_all, wait_committed

pytestmark = pytest.mark.integration

WRITE_KEY = "wk-test-1"
GA4_SECRET = "ga4-secret-1"
SWEDEN, US, UK = "85.195.1.1", "8.8.8.8", "81.2.69.142"


@dataclass
class Running:
    url: str
    port: int
    config: GatewayConfig
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def collector(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Running]:
    # 127.0.0.2 is a trusted proxy; the SDKs connect from 127.0.0.1, which is not.
    config, text = fresh_config(kafka_bootstrap, {"collect": {"trusted_proxies": ["127.0.0.2/32"]}})
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    port = _free_port()
    env = {**os.environ, "RESIDENCY_GATEWAY_WRITE_KEYS": f"{WRITE_KEY},{GA4_SECRET}"}
    log = (tmp_path / "collect.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streams", "collect", "--config", str(path), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:  # noqa: S310
                if orjson.loads(answer.read())["status"] == "ok":
                    break
        except OSError:
            pass
        assert process.poll() is None, (tmp_path / "collect.log").read_text()
        assert time.monotonic() < deadline, "collect never became healthy"
        time.sleep(0.2)
    try:
        yield Running(url, port, config, process)
    finally:
        process.terminate()
        assert process.wait(30) == 0, (tmp_path / "collect.log").read_text()[-3000:]
        log.close()


def _post(port: int, path: str, body: bytes, headers: dict[str, str], source: str = "127.0.0.1") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _auth(key: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode(),
        "Content-Type": "application/json",
    }


def test_the_sdks_events_reach_their_regions_through_collect(
    collector: Running, kafka_bootstrap: str
) -> None:
    config, url = collector.config, collector.url
    errors: list[Exception] = []
    options = {
        "max_retries": 0,
        "timeout": 10,
        "on_error": lambda error, _batch: errors.append(error),
        "sync_mode": True,
        "proxies": {"no_proxy": "127.0.0.1"},
    }
    segment = SegmentClient(WRITE_KEY, host=url, **options)
    segment.track("seg-user", "Order Completed", {"revenue": 1}, context={"ip": SWEDEN})
    segment.identify("seg-user", {"plan": "pro"}, context={"ip": SWEDEN})
    rudder = RudderStackClient(WRITE_KEY, host=url, **options)
    rudder.track("rs-user", "Signed Up", context={"ip": US})
    assert not errors, errors
    with requests.Session() as session:
        session.trust_env = False
        for method in ("post", "get"):
            subject = Subject().set_user_id(f"sp-{method}").set_ip_address(UK)
            emitter = Emitter(
                url.removeprefix("http://"), protocol="http", method=method, batch_size=1, session=session
            )
            tracker = Tracker("shop", emitter, subject=subject, app_id="shop")
            tracker.track(StructuredEvent(category="shop", action=f"view-{method}"))
            tracker.flush()
    ga4 = {"client_id": "ga-1", "events": [{"name": "purchase", "params": {"value": 3}}]}
    assert (
        _post(
            collector.port,
            f"/mp/collect?measurement_id=G-1&api_secret={GA4_SECRET}",
            orjson.dumps(ga4),
            {"Content-Type": "application/json", "X-Forwarded-For": US},
            source="127.0.0.2",
        )
        == 204
    )
    # A spoofed X-Forwarded-For from an untrusted peer is ignored: the peer's own address is recorded.
    spoofed = {"type": "track", "event": "Spoofed", "userId": "spoof-user"}
    assert (
        _post(collector.port, "/v1/track", orjson.dumps(spoofed), {**_auth(WRITE_KEY), "X-Forwarded-For": UK})
        == 200
    )

    ingest = config.topics.ingest[0]
    records = read_all(kafka_bootstrap, [ingest])[ingest]
    assert len(records) == 7  # 3 Segment/RudderStack posts (sync mode), 2 Snowplow, 1 GA4, 1 spoofed
    text = b"\n".join(r.value or b"" for r in records)
    assert WRITE_KEY.encode() not in text  # stripped from what is stored
    by_event = {}
    for record in records:
        document = orjson.loads(record.value or b"")
        for event in document.get("batch", [document]):
            by_event[event.get("event") or event.get("se_ac") or event.get("type")] = event
    assert by_event["Spoofed"]["context"]["ip"] == "127.0.0.1"
    assert by_event["view-get"]["ip"] == UK  # the tracker's own ip parameter, never overridden

    gateway = build_gateway(
        config, kafka_bootstrap, development_keys(config.key_regions()), worker_id="c1", poll_timeout=0.05
    )
    try:
        with in_thread(gateway.engine):
            wait_committed(kafka_bootstrap, config.kafka.group_id, ingest, timeout=120)
    finally:
        gateway.close()
    regions = {name: region.topic for name, region in config.regions.items()}
    out = read_all(kafka_bootstrap, [regions["eu"], regions["us"], config.topics.quarantine])
    eu = [orjson.loads(r.value or b"") for r in out[regions["eu"]]]
    us = [orjson.loads(r.value or b"") for r in out[regions["us"]]]
    assert sum(len(d.get("batch", [d])) for d in eu) >= 4  # 2 Segment (SE), 2 Snowplow (GB)
    assert any(d.get("client_id") == "ga-1" for d in us)  # GA4 through the trusted proxy's header
    assert any(e.get("userId") == "rs-user" for d in us for e in d.get("batch", [d]))
    quarantined = [orjson.loads(r.value or b"") for r in out[config.topics.quarantine]]
    assert [d["event"] for d in quarantined] == ["Spoofed"]  # 127.0.0.1 is no place


def test_bad_requests_get_their_status_and_write_nothing(collector: Running, kafka_bootstrap: str) -> None:
    port = collector.port
    event = orjson.dumps({"type": "track", "event": "x", "userId": "u"})
    assert _post(port, "/v1/track", event, _auth("unknown-key")) == 401
    assert _post(port, "/v1/track", b'{"type": "track", oops', _auth(WRITE_KEY)) == 400
    huge = orjson.dumps({"type": "track", "event": "x", "userId": "u", "properties": {"p": "y" * 40_000}})
    assert _post(port, "/v1/track", huge, _auth(WRITE_KEY)) == 413
    bomb = gzip.compress(b" " * 20_000_000)
    assert _post(port, "/v1/batch", bomb, {**_auth(WRITE_KEY), "Content-Encoding": "gzip"}) == 413
    assert _post(port, "/mp/collect?measurement_id=G-1&api_secret=wrong", b"{}", {}) == 401
    ingest = collector.config.topics.ingest[0]
    assert read_all(kafka_bootstrap, [ingest])[ingest] == []
    with urllib.request.urlopen(f"{collector.url}/metrics", timeout=5) as answer:  # noqa: S310
        metrics = answer.read().decode()
    assert 'residency_gateway_collect_requests_total{route="segment",status="401"} 1.0' in metrics
    assert 'residency_gateway_collect_requests_total{route="segment",status="413"} 2.0' in metrics


def test_the_collect_bench_measures_and_reports_what_it_measured(kafka_bootstrap: str) -> None:
    """`python -m loadtests.collect_bench` in a one-second run on the suite's broker: it runs, and
    its report holds the figures it measured (the full run's are in docs/tuning.md)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadtests.collect_bench",
            "--seconds",
            "1",
            "--connections",
            "4",
            "--bootstrap",
            kafka_bootstrap,
            "--web-port",
            str(_free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = orjson.loads(done.stdout.strip().splitlines()[-1])
    saturated, half = report["saturated"], report["half_load"]
    assert saturated["requests_per_s"] > 0 and saturated["failed"] == 0
    # requests_per_s is rounded to 0.1, events_per_s computed before: they agree to within that.
    expected = saturated["requests_per_s"] * report["batch_events"]
    assert abs(saturated["events_per_s"] - expected) <= 0.05 * report["batch_events"] + 1
    assert (
        half["answered"] > 0
        and half["failed"] == 0
        and 0 < half["p50_ms"] <= half["p99_ms"] <= half["max_ms"]
    )


def test_webhook_deliveries_are_signed_or_keyed_and_land_as_they_came(
    collector: Running, kafka_bootstrap: str
) -> None:
    import hashlib
    import hmac

    port = collector.port
    segment_event = orjson.dumps(
        {"type": "track", "event": "From Segment", "userId": "w1", "context": {"ip": SWEDEN}}
    )
    signature = hmac.new(WRITE_KEY.encode(), segment_event, hashlib.sha1).hexdigest()
    assert _post(port, "/webhook/segment", segment_event, {"X-Signature": signature}) == 200
    assert _post(port, "/webhook/segment", segment_event, {"X-Signature": "0" * 40}) == 401
    jitsu = orjson.dumps(
        [
            {"type": "page", "anonymousId": "j1", "context": {"ip": US}},
            {"type": "track", "event": "From Jitsu", "anonymousId": "j1"},
        ]
    )
    assert _post(port, "/webhook/jitsu", jitsu, _auth(WRITE_KEY)) == 200
    assert _post(port, "/webhook/jitsu", jitsu, _auth("nope")) == 401
    assert _post(port, "/webhook/unknown", jitsu, _auth(WRITE_KEY)) == 404
    ingest = collector.config.topics.ingest[0]
    landed = [orjson.loads(r.value or b"") for r in read_all(kafka_bootstrap, [ingest])[ingest]]
    assert len(landed) == 3  # the Segment event, and each of Jitsu's two
    by_name = {event.get("event") or event["type"]: event for event in landed}
    assert by_name["From Segment"]["context"] == {"ip": SWEDEN}
    assert "context" not in by_name["From Jitsu"]  # the CDP's server's address is no user's
