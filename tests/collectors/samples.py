"""One payload per collector format with its expected decision, made by the real SDK where one exists."""

from __future__ import annotations

from tests.collectors.capture import (
    ga4_body,
    residency_entity,
    rudderstack_records,
    segment_records,
    snowplow_events,
    snowplow_get_records,
    snowplow_post_records,
    snowplow_subject,
    spec_call,
)
from tests.collectors.enriched_lines import enriched_line


def every_format_lines() -> list[tuple[bytes, str, str | None, str]]:
    """(payload, format, region, signal): one line per format, made by the real SDK where one exists."""
    [segment] = segment_records([spec_call("identify", context={"ip": "81.2.69.142"})])
    [rudder] = rudderstack_records([spec_call("track", context={"residency": "in"})], request_ip="49.44.0.1")
    [page_view, *_] = snowplow_events(context=[residency_entity("ru")])
    [snowplow] = snowplow_post_records([page_view], encode_base64=True)
    [snowplow_get] = snowplow_get_records(snowplow_events()[:1], subject=snowplow_subject(ip="8.8.8.8"))
    enriched = enriched_line(
        {"geo_country": "CN", "user_ipaddress": "114.114.114.114"}, residency=None
    ).encode()
    # A CDN country and an IP that disagree: the default policy holds the event.
    ga4 = ga4_body(user_location={"country_id": "CN"}, ip_override="81.2.69.142")
    unknown = ga4_body()
    return [
        (segment, "segment", "eu", "ip"),
        (rudder, "rudderstack", "in", "declared"),
        (snowplow, "snowplow", "ru", "declared"),
        (snowplow_get, "snowplow_get", "us", "ip"),
        (enriched, "snowplow_enriched_tsv", "cn", "upstream_country"),
        (ga4, "ga4", None, "conflict"),
        (unknown, "ga4", None, "none"),
    ]
