"""Snowplow enriched TSV lines as enrich writes them: one canonical event with canaries, any field replaced.

Shared by the enriched format's tests, the fail-closed signal tests and the collector samples.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.formats.snowplow_enriched import ENRICHED_FIELDS

CANARY_EMAIL = "jane.canary@example.com"
CANARY_IP = "203.0.113.77"
SECRET_PATH = "/account/jane-canary"

RESIDENCY = "iglu:io.residencygateway/residency/jsonschema/1-0-0"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
WEB_PAGE = {
    "schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
    "data": {"id": "0f4a5b6e-2f31-4c56-9d1a-7e0b8a3c2d11"},
}
UA_PARSER = {
    "schema": "iglu:com.snowplowanalytics.snowplow/ua_parser_context/jsonschema/1-0-0",
    "data": {"useragentFamily": "Firefox", "osFamily": "Linux", "deviceFamily": "Other"},
}
DECLARED_LABEL = "contexts.data.1.data.residency"  # the residency entity follows WEB_PAGE

BASE_FIELDS = {
    "app_id": "shop-web",
    "platform": "web",
    "etl_tstamp": "2026-11-28 12:00:01.482",
    "collector_tstamp": "2026-11-28 12:00:00.000",
    "dvce_created_tstamp": "2026-11-28 11:59:59.861",
    "event": "page_view",
    "event_id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb",
    "name_tracker": "sp1",
    "v_tracker": "js-3.24.2",
    "v_collector": "ssc-3.2.0-kafka",
    "v_etl": "snowplow-enrich-kafka-5.1.0",
    "user_id": CANARY_EMAIL,
    "user_ipaddress": CANARY_IP,
    "domain_userid": "a9c5e7f0-3b1d-4e2a-8f6c-5d4b3a2c1e0f",
    "domain_sessionidx": "3",
    "network_userid": "ecdff4d0-9175-40ac-a8bb-325c49733607",
    "geo_country": "DE",
    "geo_region": "BE",
    "geo_city": "Berlin",
    "geo_zipcode": "10115",
    "geo_latitude": "52.5321",
    "geo_longitude": "13.3849",
    "geo_region_name": "Land Berlin",
    "page_url": f"https://shop.example.com{SECRET_PATH}?tab=orders",
    "page_title": "Meine Bestellungen",
    "page_urlscheme": "https",
    "page_urlhost": "shop.example.com",
    "page_urlport": "443",
    "page_urlpath": SECRET_PATH,
    "page_urlquery": "tab=orders",
    "useragent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "br_lang": "de-DE",
    "br_features_pdf": "1",
    "br_cookies": "1",
    "br_colordepth": "24",
    "br_viewwidth": "1280",
    "br_viewheight": "720",
    "os_timezone": "Europe/Berlin",
    "dvce_screenwidth": "1920",
    "dvce_screenheight": "1080",
    "doc_charset": "UTF-8",
    "doc_width": "1280",
    "doc_height": "3400",
    "dvce_sent_tstamp": "2026-11-28 11:59:59.902",
    "derived_contexts": orjson.dumps({"schema": CONTEXTS, "data": [UA_PARSER]}).decode(),
    "domain_sessionid": "7b3f1e2d-4c5a-4b6e-9f8d-1a2b3c4d5e6f",
    "derived_tstamp": "2026-11-28 11:59:59.959",
    "event_vendor": "com.snowplowanalytics.snowplow",
    "event_name": "page_view",
    "event_format": "jsonschema",
    "event_version": "1-0-0",
    "event_fingerprint": "e3dbfa9ca0a7b3f1b2c6d8e4f5a6b7c8",
}


def enriched_line(fields: dict[str, str] | None = None, residency: str | None = "eu") -> str:
    """A 131-field enriched TSV line: BASE_FIELDS, a web_page context, the residency context if given."""
    entities: list[dict[str, Any]] = [WEB_PAGE]
    if residency is not None:
        entities.append({"schema": RESIDENCY, "data": {"residency": residency}})
    values = {**BASE_FIELDS, "contexts": orjson.dumps({"schema": CONTEXTS, "data": entities}).decode()}
    values.update(fields or {})
    unknown = set(values) - set(ENRICHED_FIELDS)
    assert not unknown, unknown
    return "\t".join(values.get(name, "") for name in ENRICHED_FIELDS)
