"""Jitsu events, as its Webhook destination posts them, read as Segment (docs/operations.md, "Jitsu").

Jitsu has no Kafka destination; its Webhook destination posts each event as JSON to an
HTTP-to-Kafka bridge, which writes the body unchanged to an ingest topic. The event is built
from Jitsu's own sources, not from memory:

- jitsucom/jitsu libs/core-functions/__tests__/lib/test-data.ts, `event()`: the fields of an
  event as Jitsu's own tests build it (type, event, anonymousId, userId, channel, context with
  ip, library "Jitsu", locale, page, screen, userAgent; properties, messageId, timestamps);
- jitsucom/bulker ingest/router.go, `patchEvent`: what Jitsu's ingest adds, `requestIp` (the
  address the request came from; for a browser event also written to `context.ip`),
  `receivedAt`, and `context.userAgent` and `context.locale` from the request's headers;
- jitsucom/jitsu services/rotor/src/lib/message-handler.ts: the rotor adds `context.geo` (its own
  MaxMind lookup of `context.ip`, when the event has one and no geo yet; type `Geo` in
  types/protocols/analytics.d.ts: country, region, city, postal code, location, provider)
  before any destination runs;
- jitsucom/jitsu libs/core-functions/src/functions/webhook-destination.ts: the request body is
  `JSON.stringify(event)`, the event alone.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
import pytest

from streams.config import DEFAULT_CONFIG_NAME, GatewayConfig, load_config, parse_config
from streams.keys.ring import development_keys
from streams.outcomes import EventResult, Outcome, Source
from streams.pipeline import Pipeline

GB_IP = "81.2.69.142"  # GeoLite2: GB, region eu
SOURCE = Source("events.ingest", 0, 7)


def jitsu_event(*, context_ip: str | None = GB_IP, request_ip: str = GB_IP) -> dict[str, Any]:
    context: dict[str, Any] = {
        "app": {},
        "campaign": {"name": "name", "source": "source"},
        "library": {"name": "Jitsu", "version": "1.0"},
        "locale": "en-US",
        "os": {"name": "", "version": ""},
        "page": {"path": "/signup", "referrer": "$direct", "search": "?test=1",
                 "title": "Title: /signup", "url": "https://app.jitsu.com/signup?test=1"},
        "screen": {"density": 2, "height": 2000, "innerHeight": 1000, "innerWidth": 2000, "width": 1000},
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
                     "(KHTML, like Gecko) Chrome/107.0.0.0 Safari/537.36",
        "traits": {"email": "john.doe.1@gmail.com", "name": "John Doe"},
        "geo": {
            "continent": {"code": "EU"},
            "country": {"code": "GB", "name": "United Kingdom", "isEU": False},
            "region": {"code": "ENG", "confidence": 50},
            "city": {"name": "London"},
            "postalCode": {"code": "EC1A"},
            "location": {"latitude": 51.5142, "longitude": -0.0931, "timezone": "Europe/London"},
            "provider": {"as": {"num": 20712, "name": "Andrews & Arnold Ltd"}, "isp": "Andrews & Arnold"},
        },
    }  # fmt: skip
    if context_ip is not None:
        context["ip"] = context_ip
    else:
        del context["geo"]  # the rotor geolocates context.ip only
    return {
        "type": "track",
        "event": "signup",
        "anonymousId": "anonymousId1",
        "userId": "userId1",
        "channel": "web",
        "context": context,
        "properties": {"plan": "team"},
        "messageId": "2bq7z3v1xk9",
        "originalTimestamp": "2024-05-02T10:11:12.345Z",
        "receivedAt": "2024-05-02T10:11:12.678Z",
        "requestIp": request_ip,
        "sentAt": "2024-05-02T10:11:12.400Z",
        "timestamp": "2024-05-02T10:11:12.345Z",
    }


def pipeline_for(config: GatewayConfig) -> Pipeline:
    return Pipeline(config, development_keys(config.key_regions()))


@pytest.fixture(scope="module")
def default_pipeline() -> Pipeline:
    return pipeline_for(load_config(None))


@pytest.fixture(scope="module")
def jitsu_pipeline() -> Pipeline:
    """The default policy with the Jitsu topic pinned to segment, as docs/operations.md says."""
    text = resources.files("streams.config").joinpath(DEFAULT_CONFIG_NAME).read_text()
    text = text.replace("  ingest_formats: {}\n", "  ingest_formats: {events.ingest: segment}\n", 1)
    config = parse_config(text, source="jitsu policy")
    assert config.topics.ingest_formats == {"events.ingest": "segment"}
    return pipeline_for(config)


def routed(pipeline: Pipeline, event: dict[str, Any]) -> tuple[EventResult, dict[str, Any], dict[str, Any]]:
    raw = orjson.dumps(event)
    [result] = pipeline.process(raw, SOURCE)
    assert result.error is None, result.error
    home, copy = result.outputs
    assert home.value == raw  # the home region gets the event exactly as Jitsu sent it
    return result, orjson.loads(home.value), orjson.loads(copy.value)


def test_a_jitsu_webhook_event_is_detected_as_segment_and_routed_home_by_its_geo_country_and_ip(
    default_pipeline: Pipeline,
) -> None:
    result, _home, _copy = routed(default_pipeline, jitsu_event())
    assert result.format == "segment"  # Jitsu's requestIp is not RudderStack's request_ip
    assert result.decision is not None
    assert (result.decision.region, result.decision.signal) == ("eu", "upstream_country")
    assert result.decision.reason == "upstream_country: GB -> eu (context.geo.country.code)"
    assert result.decision.ignored == ("ip: GB -> eu (context.ip)",)
    assert [(o.topic, o.outcome) for o in result.outputs] == [
        ("events.eu", Outcome.ROUTED),
        ("events.global", Outcome.EXPORTED),
    ]


def test_a_jitsu_events_global_copy_keeps_no_id_email_name_or_full_ip(jitsu_pipeline: Pipeline) -> None:
    result, home, copy = routed(jitsu_pipeline, jitsu_event())
    assert result.format == "segment"
    assert home["context"]["traits"]["email"] == "john.doe.1@gmail.com"
    assert copy["userId"].startswith("pz:eu:0:") and copy["anonymousId"].startswith("pz:eu:0:")
    assert "traits" not in copy["context"]  # a person's profile: no allowlist names it
    # Both by their paths, to their /24: nothing is left for the scan by value.
    assert copy["context"]["ip"] == copy["requestIp"] == "81.2.69.0"
    assert result.audit["outputs"][1]["found_in_text"] == {}
    assert ("requestIp", "generalize") in [
        (change["field"], change["transform"]) for change in result.audit["outputs"][1]["transformed"]
    ]
    text = orjson.dumps(copy)
    for personal in (b"userId1", b"anonymousId1", b"john.doe.1@gmail.com", b"John Doe", GB_IP.encode()):
        assert personal not in text
    assert copy["timestamp"] == "2024-05-02T10:00:00.000Z"


@pytest.mark.parametrize("pipeline_name", ["default_pipeline", "jitsu_pipeline"])
def test_jitsu_geo_keeps_only_its_country_and_continent_in_copies(
    pipeline_name: str, request: pytest.FixtureRequest
) -> None:
    # Segment's geo fields include context.geo, so no field rule has to name its parts: the
    # city, postal code, coordinates and ISP that Jitsu's geolocation adds never leave the region.
    _result, home, copy = routed(request.getfixturevalue(pipeline_name), jitsu_event())
    assert home["context"]["geo"]["city"] == {"name": "London"}
    assert copy["context"]["geo"] == {
        "continent": {"code": "EU"},
        "country": {"code": "GB", "name": "United Kingdom", "isEU": False},
    }


def test_a_server_to_server_jitsu_event_without_context_ip_is_quarantined_not_placed_by_its_server(
    jitsu_pipeline: Pipeline,
) -> None:
    # A server-to-server call's requestIp is the calling server's address, so it is no signal;
    # and with no context.ip, Jitsu adds no context.geo.
    event = jitsu_event(context_ip=None, request_ip="8.8.8.8")
    [result] = jitsu_pipeline.process(orjson.dumps(event), SOURCE)
    assert result.decision is not None and result.decision.region is None
    assert result.decision.reason.startswith("no-signal")
    assert [(o.topic, o.outcome) for o in result.outputs] == [("events.quarantine", Outcome.QUARANTINED)]
