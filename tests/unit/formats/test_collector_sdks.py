"""The gateway classifies what the official collector SDKs really send.

Segment, RudderStack and Snowplow payloads come from their Python SDKs, pointed at a
local capture server (tests/collectors/capture.py); GA4 bodies are built to Google's
Measurement Protocol reference. Under the default policy the signals are, highest
first: declared → upstream_country → ip; locale and timezone are off, and a conflict
holds the event. Under `on_conflict: precedence` the higher signal decides and the
other is listed in `ignored`.

The gateway is imported inside fixtures and helpers only, so the harness checks (the
first tests below) run whatever state the gateway is in.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
import requests
import yaml

from tests.collectors.capture import (
    PAYLOAD_DATA_SCHEMA,
    SPEC_KINDS,
    CaptureServer,
    SpecKind,
    every_spec_call,
    ga4_body,
    ga4_event,
    residency_entity,
    rudderstack_records,
    segment_records,
    snowplow_events,
    snowplow_get_records,
    snowplow_post_records,
    snowplow_subject,
    spec_call,
)

if TYPE_CHECKING:
    from streams.config import GatewayConfig
    from streams.outcomes import EventResult
    from streams.pipeline import Pipeline

POLICY = Path(__file__).resolve().parents[3] / "config" / "policy.yaml"
# Addresses the bundled geolocation data is known to place; others come from `ip_in`.
KNOWN_IPS = {"US": "8.8.8.8", "GB": "81.2.69.142"}
PRIVATE_IP = "10.1.2.3"
SPEC_SDKS = ("segment", "rudderstack")


# --- Helpers -----------------------------------------------------------------------------------


@functools.cache
def _sample_ranges() -> dict[str, list[tuple[int, int]]]:
    from streams.classify.geolocation import default_geolocator

    return default_geolocator().ranges_of({"DE", "IN", "CN", "RU", "BR"})


def ip_in(country: str) -> str:
    """A public IPv4 address the bundled geolocation data places in `country`."""
    if country in KNOWN_IPS:
        return KNOWN_IPS[country]
    first, last = max(_sample_ranges()[country], key=lambda bounds: bounds[1] - bounds[0])
    return str(ipaddress.IPv4Address((first + last) // 2))


def _pipeline(config: GatewayConfig) -> Pipeline:
    from streams.keys.ring import development_keys
    from streams.pipeline import Pipeline

    return Pipeline(config, development_keys(config.key_regions()))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    from streams.config import load_config

    return _pipeline(load_config(None))


@pytest.fixture(scope="module")
def precedence_pipeline() -> Pipeline:
    """config/policy.yaml, except that on a conflict the highest signal decides."""
    from streams.config import parse_config

    # Edited as data, not text: the file has a jurisdiction section, and the policy loader
    # rejects a duplicate key.
    policy = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    policy.setdefault("jurisdiction", {})["on_conflict"] = "precedence"
    return _pipeline(parse_config(yaml.safe_dump(policy), source="policy.yaml with on_conflict: precedence"))


def classify(pipeline: Pipeline, records: list[bytes]) -> list[EventResult]:
    """Every record through the pipeline as consecutive offsets of events.ingest; all results."""
    from streams.outcomes import Source

    assert records, "the harness produced no records"
    results = []
    for offset, record in enumerate(records):
        results.extend(pipeline.process(record, Source("events.ingest", 0, offset)))
    return results


def assert_routed(result: EventResult, region: str, signal: str, country: str | None = None) -> None:
    decision = result.decision
    assert decision is not None, f"dead-lettered: {result.error and result.error.reason}"
    assert (decision.region, decision.signal) == (region, signal), decision.reason
    if country is not None:
        assert decision.country == country, decision.reason
    assert result.outputs[0].topic == f"events.{region}"


def assert_quarantined(result: EventResult, signal: str = "none") -> None:
    decision = result.decision
    assert decision is not None, f"dead-lettered: {result.error and result.error.reason}"
    assert (decision.region, decision.signal) == (None, signal), decision.reason
    assert [output.topic for output in result.outputs] == ["events.quarantine"]


def spec_context(
    *,
    declared: str | None = None,
    ip: str | None = None,
    headers: dict[str, str] | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> dict[str, Any]:
    """A Segment-spec `context` carrying the given evidence, and only that."""
    evidence = {"residency": declared, "ip": ip, "headers": headers, "locale": locale, "timezone": timezone}
    return {name: value for name, value in evidence.items() if value is not None}


def spec_sdk_records(sdk: str, calls: list[Any], request_ip: str | None = None) -> list[bytes]:
    if sdk == "segment":
        assert request_ip is None, "Segment events carry no request_ip"
        return segment_records(calls)
    return rudderstack_records(calls, request_ip)


class Builder(Protocol):
    """The records of a typical send by one collector (and encoding), carrying the given evidence."""

    def __call__(
        self,
        *,
        declared: str | None = None,
        ip: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> list[bytes]: ...


def _spec_builder(sdk: str) -> Builder:
    # RudderStack's request_ip is the SDK's own loopback address, which is no signal.
    def build(
        *,
        declared: str | None = None,
        ip: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> list[bytes]:
        context = spec_context(declared=declared, ip=ip, locale=locale, timezone=timezone)
        return spec_sdk_records(sdk, [spec_call("track", context=context)])

    return build


def _snowplow_builder(method: str, encode_base64: bool) -> Builder:
    def build(
        *,
        declared: str | None = None,
        ip: str | None = None,
        locale: str | None = None,
        timezone: str | None = None,
    ) -> list[bytes]:
        events = snowplow_events([residency_entity(declared)] if declared else [])
        subject = snowplow_subject(ip=ip, lang=locale, timezone=timezone, user_id="user-42")
        send = snowplow_post_records if method == "post" else snowplow_get_records
        return send(events, subject=subject, encode_base64=encode_base64)

    return build


def _ga4_build(
    *,
    declared: str | None = None,
    ip: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
) -> list[bytes]:
    # GA4 has no time zone field; its locale is device.language.
    return [
        ga4_body(
            user_properties={"residency": declared, "tier": "gold"} if declared else {"tier": "gold"},
            ip_override=ip,
            device={"category": "mobile", "language": locale} if locale else None,
            events=[ga4_event(), ga4_event("add_to_cart", currency="EUR", value=25.5)],
        )
    ]


COLLECTORS: dict[str, Builder] = {
    "segment": _spec_builder("segment"),
    "rudderstack": _spec_builder("rudderstack"),
    "snowplow-post-cx": _snowplow_builder("post", encode_base64=True),
    "snowplow-post-co": _snowplow_builder("post", encode_base64=False),
    "snowplow-get-cx": _snowplow_builder("get", encode_base64=True),
    "snowplow-get-co": _snowplow_builder("get", encode_base64=False),
    "ga4": _ga4_build,
}
SNOWPLOW_VARIANTS = [name for name in COLLECTORS if name.startswith("snowplow")]


# --- The harness itself (independent of the gateway) ------------------------------------------


def test_capture_server_records_gunzipped_bodies_and_get_queries_and_answers_200() -> None:
    with CaptureServer() as server, requests.Session() as session:
        session.trust_env = False  # no proxy from the environment
        gzipped = gzip.compress(b'{"batch": []}')
        posted = session.post(
            server.url + "/v1/batch", data=gzipped, headers={"Content-Encoding": "gzip"}, timeout=5
        )
        got = session.get(server.url + "/i", params={"e": "pv", "tv": "py-1.1.0"}, timeout=5)
        assert (posted.status_code, got.status_code) == (200, 200)
        post, get = server.wait_for(2)
    assert (post.method, post.path, post.body) == ("POST", "/v1/batch", b'{"batch": []}')
    assert post.headers["content-encoding"] == "gzip" and post.client_ip == "127.0.0.1"
    assert (get.method, get.path, get.query, get.body) == ("GET", "/i", "e=pv&tv=py-1.1.0", b"")


def _events_in(collector: str, record: bytes) -> int:
    document = json.loads(record)
    if collector.startswith("segment"):
        return len(document["batch"])
    if collector.startswith("snowplow-post"):
        return len(document["data"])
    if collector == "ga4":
        return len(document["events"])
    return 1  # a RudderStack event or a Snowplow GET parameter object


HARNESS_CASES: list[tuple[str, Callable[[], list[bytes]], int, int]] = [
    # (collector, send, records, events in each record)
    ("segment-batch", lambda: segment_records(every_spec_call()), 1, 6),
    ("segment-sync", lambda: segment_records(every_spec_call(), one_request_per_call=True), 6, 1),
    ("rudderstack-batch", lambda: rudderstack_records(every_spec_call()), 6, 1),
    ("rudderstack-sync", lambda: rudderstack_records(every_spec_call(), one_request_per_call=True), 6, 1),
    ("snowplow-post-cx", lambda: snowplow_post_records(snowplow_events()), 1, 3),
    ("snowplow-post-co", lambda: snowplow_post_records(snowplow_events(), encode_base64=False), 1, 3),
    ("snowplow-post-batches-of-1", lambda: snowplow_post_records(snowplow_events(), batch_size=1), 3, 1),
    ("snowplow-get-cx", lambda: snowplow_get_records(snowplow_events()), 3, 1),
    ("snowplow-get-co", lambda: snowplow_get_records(snowplow_events(), encode_base64=False), 3, 1),
    ("ga4", lambda: [ga4_body(events=[ga4_event()] * 3)], 1, 3),
]


@pytest.mark.parametrize(
    ("collector", "send", "records", "events_each"),
    [pytest.param(*case, id=case[0]) for case in HARNESS_CASES],
)
def test_harness_returns_the_records_and_events_each_sdk_sends(
    collector: str, send: Callable[[], list[bytes]], records: int, events_each: int
) -> None:
    sent = send()
    assert len(sent) == records
    assert [_events_in(collector, record) for record in sent] == [events_each] * records


def test_segment_sdk_body_is_the_batch_the_sdk_posted() -> None:
    [record] = segment_records(every_spec_call(context={"residency": "eu"}))
    body = json.loads(record)
    assert set(body) == {"batch", "sentAt", "writeKey"}
    assert [event["type"] for event in body["batch"]] == list(SPEC_KINDS)
    for event in body["batch"]:
        assert event["context"]["residency"] == "eu"
        assert event["context"]["library"]["name"] == "analytics-python"
    identify = body["batch"][SPEC_KINDS.index("identify")]
    assert identify["traits"]["email"] == "jane@example.com"


def test_rudderstack_records_are_single_events_with_the_fields_rudder_server_adds() -> None:
    records = rudderstack_records(every_spec_call(context={"ip": "8.8.8.8"}))
    events = [json.loads(record) for record in records]
    assert [event["type"] for event in events] == list(SPEC_KINDS)
    for event in events:
        assert "batch" not in event and event["request_ip"] == "127.0.0.1"
        uuid.UUID(event["rudderId"])
        datetime.fromisoformat(event["receivedAt"])
        assert event["context"]["ip"] == "8.8.8.8" and event["channel"] == "server"
    # RudderStack's SDK moves identify traits into context.traits.
    identify = events[SPEC_KINDS.index("identify")]
    assert "traits" not in identify and identify["context"]["traits"]["email"] == "jane@example.com"
    [given] = rudderstack_records([spec_call("track")], request_ip="203.0.113.9")
    assert json.loads(given)["request_ip"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("encode_base64", "context_key", "event_key"), [(True, "cx", "ue_px"), (False, "co", "ue_pr")]
)
def test_snowplow_tracker_sends_payload_data_with_subject_and_contexts(
    encode_base64: bool, context_key: str, event_key: str
) -> None:
    subject = snowplow_subject(ip="8.8.8.8", lang="de-DE", timezone="Europe/Berlin", user_id="user-42")
    events = snowplow_events([residency_entity("ru")])
    [record] = snowplow_post_records(events, subject=subject, encode_base64=encode_base64)
    body = json.loads(record)
    assert body["schema"] == PAYLOAD_DATA_SCHEMA
    assert [event["e"] for event in body["data"]] == ["pv", "se", "ue"]
    for event in body["data"]:
        assert context_key in event
        assert (event["ip"], event["lang"], event["tz"], event["uid"]) == (
            "8.8.8.8",
            "de-DE",
            "Europe/Berlin",
            "user-42",
        )
    assert event_key in body["data"][2]
    gets = [
        json.loads(record)
        for record in snowplow_get_records(events, subject=subject, encode_base64=encode_base64)
    ]
    assert [parameters["e"] for parameters in gets] == ["pv", "se", "ue"]
    for parameters in gets:
        assert context_key in parameters and parameters["ip"] == "8.8.8.8"


def test_ga4_body_follows_the_measurement_protocol() -> None:
    body = json.loads(
        ga4_body(
            user_id="user-42",
            timestamp_micros=1_700_000_000_000_000,
            user_properties={"residency": "eu"},
            user_location={"city": "Berlin", "region_id": "DE-BE", "country_id": "DE"},
            ip_override="8.8.8.8",
            device={"category": "mobile", "language": "de-de", "operating_system": "Android"},
            consent={"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
        )
    )
    assert body["client_id"] and body["user_properties"] == {"residency": {"value": "eu"}}
    assert body["user_location"]["country_id"] == "DE" and body["events"][0]["name"] == "page_view"
    firebase = json.loads(ga4_body(app_instance_id="cbd7e4a1d2f14a4c9b4a0f1e2d3c4b5a"))
    assert "client_id" not in firebase and firebase["app_instance_id"]
    with pytest.raises(ValueError, match="1 to 25 events"):
        ga4_body(events=[ga4_event()] * 26)


# --- Segment and RudderStack SDKs ---------------------------------------------------------------


@pytest.mark.parametrize("kind", SPEC_KINDS)
@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_call_with_declared_region_is_routed_home(
    pipeline: Pipeline, sdk: str, kind: SpecKind
) -> None:
    [result] = classify(pipeline, spec_sdk_records(sdk, [spec_call(kind, context={"residency": "eu"})]))
    assert_routed(result, "eu", "declared")


@pytest.mark.parametrize(("country", "region"), [("DE", "eu"), ("IN", "in"), ("BR", "row")])
@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_declared_iso_country_is_routed_to_its_region(
    pipeline: Pipeline, sdk: str, country: str, region: str
) -> None:
    [result] = classify(
        pipeline, spec_sdk_records(sdk, [spec_call("identify", context={"residency": country})])
    )
    assert_routed(result, region, "declared", country)


@pytest.mark.parametrize(
    ("header", "country", "region"),
    [
        ("cf-ipcountry", "DE", "eu"),
        ("cloudfront-viewer-country", "IN", "in"),
        ("x-vercel-ip-country", "US", "us"),
    ],
)
@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_cdn_country_header_is_upstream_country(
    pipeline: Pipeline, sdk: str, header: str, country: str, region: str
) -> None:
    context = spec_context(headers={header: country})
    [result] = classify(pipeline, spec_sdk_records(sdk, [spec_call("page", context=context)]))
    assert_routed(result, region, "upstream_country", country)


@pytest.mark.parametrize(
    ("country", "region"),
    [("US", "us"), ("GB", "eu"), ("DE", "eu"), ("IN", "in"), ("CN", "cn"), ("RU", "ru"), ("BR", "row")],
)
@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_context_ip_is_geolocated(pipeline: Pipeline, sdk: str, country: str, region: str) -> None:
    [result] = classify(pipeline, spec_sdk_records(sdk, [spec_call("track", context={"ip": ip_in(country)})]))
    assert_routed(result, region, "ip", country)


@pytest.mark.parametrize("kind", SPEC_KINDS)
@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_call_without_residency_evidence_is_quarantined(
    pipeline: Pipeline, sdk: str, kind: SpecKind
) -> None:
    # RudderStack's request_ip is the SDK's loopback address here: present, but no signal.
    [result] = classify(pipeline, spec_sdk_records(sdk, [spec_call(kind)]))
    assert_quarantined(result)


def test_segment_batch_of_every_call_type_yields_one_decision_per_event(pipeline: Pipeline) -> None:
    [record] = segment_records(every_spec_call(context={"residency": "ru"}))
    results = classify(pipeline, [record])
    assert [result.index for result in results] == list(range(len(SPEC_KINDS)))
    for result in results:
        assert_routed(result, "ru", "declared")


def test_rudderstack_request_ip_decides_when_context_ip_is_absent(pipeline: Pipeline) -> None:
    records = rudderstack_records(every_spec_call(), request_ip=ip_in("BR"))
    for result in classify(pipeline, records):
        assert_routed(result, "row", "ip", "BR")


def test_rudderstack_context_ip_and_request_ip_of_two_regions_are_a_conflict(pipeline: Pipeline) -> None:
    records = rudderstack_records([spec_call("track", context={"ip": ip_in("US")})], request_ip=ip_in("RU"))
    [result] = classify(pipeline, records)
    assert_quarantined(result, "conflict")


def test_under_precedence_rudderstack_context_ip_outranks_request_ip(precedence_pipeline: Pipeline) -> None:
    records = rudderstack_records([spec_call("track", context={"ip": ip_in("US")})], request_ip=ip_in("RU"))
    [result] = classify(precedence_pipeline, records)
    assert_routed(result, "us", "ip", "US")
    assert result.decision is not None and result.decision.ignored == ("ip: RU -> ru (request_ip)",)


@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_cdn_country_outranks_a_conflicting_ip(precedence_pipeline: Pipeline, sdk: str) -> None:
    context = spec_context(ip=ip_in("US"), headers={"cf-ipcountry": "DE"})
    [result] = classify(precedence_pipeline, spec_sdk_records(sdk, [spec_call("track", context=context)]))
    assert_routed(result, "eu", "upstream_country", "DE")
    assert result.decision is not None
    assert any(entry.startswith("ip") for entry in result.decision.ignored), result.decision.ignored


@pytest.mark.parametrize("sdk", SPEC_SDKS)
def test_spec_sdk_declared_residency_outranks_a_conflicting_cdn_country(
    precedence_pipeline: Pipeline, sdk: str
) -> None:
    context = spec_context(declared="in", headers={"cloudfront-viewer-country": "US"})
    [result] = classify(precedence_pipeline, spec_sdk_records(sdk, [spec_call("identify", context=context)]))
    assert_routed(result, "in", "declared")
    assert result.decision is not None
    assert any(entry.startswith("upstream_country") for entry in result.decision.ignored), (
        result.decision.ignored
    )


# --- Snowplow tracker -------------------------------------------------------------------------


@pytest.mark.parametrize("collector", SNOWPLOW_VARIANTS)
def test_snowplow_residency_context_entity_is_declared(pipeline: Pipeline, collector: str) -> None:
    # Next to another custom entity, in cx (base64) or co (plain JSON), POST or GET.
    results = classify(pipeline, COLLECTORS[collector](declared="ru"))
    assert len(results) == 3  # page view, structured event, self-describing event
    for result in results:
        assert_routed(result, "ru", "declared")


@pytest.mark.parametrize("collector", SNOWPLOW_VARIANTS)
def test_snowplow_subject_ip_address_is_geolocated(pipeline: Pipeline, collector: str) -> None:
    # The subject also sets lang and tz, which the default policy doesn't read.
    records = COLLECTORS[collector](ip=ip_in("IN"), locale="de-DE", timezone="Europe/Berlin")
    results = classify(pipeline, records)
    assert len(results) == 3
    for result in results:
        assert_routed(result, "in", "ip", "IN")


@pytest.mark.parametrize("collector", SNOWPLOW_VARIANTS)
def test_snowplow_event_without_residency_evidence_is_quarantined(pipeline: Pipeline, collector: str) -> None:
    results = classify(pipeline, COLLECTORS[collector]())
    assert len(results) == 3
    for result in results:
        assert_quarantined(result)


# --- GA4 Measurement Protocol ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "region", "signal"),
    [
        ({"user_properties": {"residency": "cn"}}, "cn", "declared"),
        ({"user_properties": {"residency": "DE"}}, "eu", "declared"),
        (
            {"user_location": {"city": "Mumbai", "region_id": "IN-MH", "country_id": "IN"}},
            "in",
            "upstream_country",
        ),
        ({"ip_override": "81.2.69.142"}, "eu", "ip"),
    ],
    ids=["declared-region", "declared-country", "user-location", "ip-override"],
)
def test_ga4_signal_fields_decide(
    pipeline: Pipeline, fields: dict[str, Any], region: str, signal: str
) -> None:
    [result] = classify(pipeline, [ga4_body(**fields)])
    assert_routed(result, region, signal)


def test_ga4_firebase_body_is_classified_like_a_web_one(pipeline: Pipeline) -> None:
    body = ga4_body(app_instance_id="cbd7e4a1d2f14a4c9b4a0f1e2d3c4b5a", user_location={"country_id": "RU"})
    [result] = classify(pipeline, [body])
    assert_routed(result, "ru", "upstream_country", "RU")


def test_ga4_body_without_residency_evidence_is_quarantined(pipeline: Pipeline) -> None:
    body = ga4_body(user_id="user-42", consent={"ad_user_data": "DENIED", "ad_personalization": "DENIED"})
    [result] = classify(pipeline, [body])
    assert_quarantined(result)


@pytest.mark.parametrize("count", [1, 3, 25])
def test_ga4_body_with_n_events_yields_n_results_with_one_decision(pipeline: Pipeline, count: int) -> None:
    events = [ga4_event("view_item", item_id=f"sku-{n}", value=n) for n in range(count)]
    body = ga4_body(user_properties={"residency": "eu"}, ip_override=ip_in("GB"), events=events)
    results = classify(pipeline, [body])
    assert [result.index for result in results] == list(range(count))
    for result in results:
        assert_routed(result, "eu", "declared")
    assert len({result.decision for result in results}) == 1


# --- Every collector: conflicts, private addresses, weak signals -------------------------------


@pytest.mark.parametrize("collector", COLLECTORS)
def test_declared_region_outranks_a_conflicting_ip_which_is_listed_as_ignored(
    precedence_pipeline: Pipeline, collector: str
) -> None:
    for result in classify(precedence_pipeline, COLLECTORS[collector](declared="eu", ip=ip_in("US"))):
        assert_routed(result, "eu", "declared")
        assert result.decision is not None
        assert any(entry.startswith("ip") for entry in result.decision.ignored), result.decision.ignored


@pytest.mark.parametrize("collector", COLLECTORS)
def test_conflicting_evidence_is_quarantined_under_the_default_policy(
    pipeline: Pipeline, collector: str
) -> None:
    for result in classify(pipeline, COLLECTORS[collector](declared="eu", ip=ip_in("US"))):
        assert_quarantined(result, signal="conflict")


@pytest.mark.parametrize("collector", COLLECTORS)
def test_agreeing_evidence_is_no_conflict_even_when_the_policy_quarantines_conflicts(
    pipeline: Pipeline, collector: str
) -> None:
    for result in classify(pipeline, COLLECTORS[collector](declared="eu", ip=ip_in("GB"))):
        assert_routed(result, "eu", "declared")


@pytest.mark.parametrize("collector", COLLECTORS)
def test_private_ip_alone_is_no_signal(pipeline: Pipeline, collector: str) -> None:
    for result in classify(pipeline, COLLECTORS[collector](ip=PRIVATE_IP)):
        assert_quarantined(result)


@pytest.mark.parametrize("collector", COLLECTORS)
def test_locale_and_timezone_alone_do_not_decide_under_the_default_policy(
    pipeline: Pipeline, collector: str
) -> None:
    for result in classify(pipeline, COLLECTORS[collector](locale="de-DE", timezone="Europe/Berlin")):
        assert_quarantined(result)
