"""Field rules per region and destination: copies that leave hold only what is allowed and identify no one."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from streams.config import ConfigError, load_config, parse_config
from streams.formats.snowplow_enriched import ENRICHED_FIELDS
from streams.keys.ring import KeyRing, PseudonymKey
from streams.outcomes import EventResult, Source
from streams.pipeline import Pipeline
from streams.subjects.tokens import detokenize
from streams.transform.pseudonymize import pseudonym

SOURCE = Source("events.ingest", 0, 77)
KEYS = KeyRing([PseudonymKey(region, 2, bytes([n]) * 32) for n, region in enumerate(
    ["eu", "us", "cn", "in", "ru", "row"], start=1)])  # fmt: skip
EU_KEY = KEYS.for_region("eu")
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.109 Safari/537.36"
)
SNOWPLOW = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(load_config(None), KEYS)


def only(results: list[EventResult]) -> EventResult:
    [result] = results
    return result


MESSAGE_ID = "6f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c"  # a collector's generated id: it leaves as it is


def outputs_by_topic(result: EventResult) -> dict[str, Any]:
    return {out.topic: orjson.loads(out.value) for out in result.outputs}


def identify(**context: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "messageId": MESSAGE_ID,
        "userId": "user-7",
        "anonymousId": "anon-7",
        "timestamp": "2026-11-28T13:45:12.345Z",
        "traits": {"email": " Jane@Example.COM ", "firstName": "Jane", "lastName": "Doe", "plan": "pro",
                   "phone": "+44 20 7946 0958"},
        "context": {"ip": "81.2.69.142", "userAgent": UA, "page": {"path": "/pricing"}, **context},
    }  # fmt: skip


def test_eu_email_never_reaches_global_topic_in_clear(pipeline: Pipeline) -> None:
    result = only(pipeline.process(orjson.dumps(identify()), SOURCE))
    home, copy = result.outputs
    assert b"Jane@Example.COM" in home.value  # full data stays home
    for clear in (b"jane@example.com", b"Jane@Example.COM", b"user-7", b"anon-7", b"Jane", b"Doe", b"7946"):
        assert clear not in copy.value


def test_the_global_copy_keeps_what_analytics_needs_and_transforms_each_kind(pipeline: Pipeline) -> None:
    copy = outputs_by_topic(only(pipeline.process(orjson.dumps(identify()), SOURCE)))["events.global"]
    assert copy["type"] == "identify" and copy["messageId"] == MESSAGE_ID
    assert copy["context"]["page"]["path"] == "/pricing"
    assert copy["userId"] == pseudonym("user-7", EU_KEY) and copy["anonymousId"] == pseudonym(
        "anon-7", EU_KEY
    )
    assert copy["context"]["ip"] == "81.2.69.0"
    assert copy["context"]["userAgent"] == "Chrome 120 / Windows 10"
    assert copy["timestamp"] == "2026-11-28T13:00:00.000Z"
    # Traits are a person's profile: no allowlist names them, so none of them leaves.
    assert "traits" not in copy


KEEPING = """
policy_version: t
destinations:
  global:
    topic: events.global
    keep: [traits.plan, traits.email, traits.phone, traits.firstName, properties.note, properties.from]
regions:
  eu: {countries: [EU27, GB], topic: events.eu, transfers: {global: pseudonymized}}
  row: {countries: "*", topic: events.row}
"""


def test_a_destination_keeps_more_by_path_and_kept_personal_fields_are_still_their_kind() -> None:
    pipeline = Pipeline(parse_config(KEEPING), KEYS)
    copy = outputs_by_topic(only(pipeline.process(orjson.dumps(identify()), SOURCE)))["events.global"]
    # Normalized first: the same person has the same pseudonym wherever the email sits.
    assert copy["traits"] == {
        "plan": "pro",
        "email": pseudonym("jane@example.com", EU_KEY),
        "phone": pseudonym("+442079460958", EU_KEY),
    }  # firstName is a name, which the rules drop, kept path or not


def test_emails_phones_and_ips_in_free_text_and_urls_are_found_by_value() -> None:
    pipeline = Pipeline(parse_config(KEEPING), KEYS)
    event = {
        "type": "track", "event": "Order Completed", "userId": "u1",
        "properties": {"note": "call +44 20 7946 0958 or mail jane@example.com", "price": 1299.99,
                       "product_id": "SKU-12345678", "from": "proxy 203.0.113.77 said hi"},
        "context": {"ip": "81.2.69.142", "page": {"url": "https://shop.example/checkout?email=Jane%40Example.com&step=2"}},
    }  # fmt: skip
    copy = outputs_by_topic(only(pipeline.process(orjson.dumps(event), SOURCE)))["events.global"]
    email = pseudonym("jane@example.com", EU_KEY)
    assert copy["properties"]["note"] == f"call {pseudonym('+442079460958', EU_KEY)} or mail {email}"
    # A URL leaves without its query: whatever the query held stays home.
    assert copy["context"]["page"]["url"] == "https://shop.example/checkout"
    assert copy["properties"]["from"] == "proxy 203.0.113.0 said hi"
    assert copy["event"] == "Order Completed" and copy["properties"]["price"] == 1299.99
    assert copy["properties"]["product_id"] == "SKU-12345678"


def test_snowplow_entities_are_decoded_kept_by_schema_and_written_back_plain(pipeline: Pipeline) -> None:
    entities = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1", "data": [
        {"schema": "iglu:com.acme/user/jsonschema/1-0-0",
         "data": {"email": "jane@example.com", "first_name": "Jane", "tier": "gold"}},
        {"schema": "iglu:com.snowplowanalytics.snowplow/geolocation_context/jsonschema/1-1-0",
         "data": {"latitude": 51.5072, "longitude": -0.1276}},
        {"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", "data": {"id": "pv-1"}},
    ]}  # fmt: skip
    cx = base64.urlsafe_b64encode(orjson.dumps(entities)).decode().rstrip("=")
    event = {"e": "pv", "tv": "py-1.1.0", "p": "srv", "uid": "user-7", "ip": "81.2.69.142", "cx": cx,
             "url": "https://shop.example/?email=jane@example.com", "dtm": "1764337512345"}  # fmt: skip
    result = only(pipeline.process(orjson.dumps({"schema": SNOWPLOW, "data": [event]}), SOURCE))
    [copy] = outputs_by_topic(result)["events.global"]["data"]
    assert "cx" not in copy
    # A custom entity isn't Snowplow's: dropped whole. A position, generalized, leaves nothing.
    [web_page] = orjson.loads(copy["co"])["data"]
    assert web_page["data"] == {"id": "pv-1"}
    assert copy["url"] == "https://shop.example/"
    dropped = result.audit["outputs"][1]["dropped"]
    assert "co.data[com.acme/user]" in dropped
    assert copy["uid"] == pseudonym("user-7", EU_KEY) and copy["ip"] == "81.2.69.0"
    assert copy["dtm"] == "1764334800000"


def test_ga4_hashed_emails_user_properties_and_precise_location_stay_home(pipeline: Pipeline) -> None:
    body = {
        "client_id": "123.456", "user_id": "user-7", "ip_override": "81.2.69.142",
        "user_location": {"city": "London", "region_id": "GB-LND", "country_id": "GB"},
        "user_data": {"sha256_email_address": ["a" * 64]},
        "user_properties": {"first_name": {"value": "Jane"}, "tier": {"value": "gold"}},
        "events": [{"name": "purchase", "params": {"value": 12.5, "currency": "EUR"}}],
    }  # fmt: skip
    copy = outputs_by_topic(only(pipeline.process(orjson.dumps(body), SOURCE)))["events.global"]
    assert copy["user_location"] == {"country_id": "GB"}
    assert "user_data" not in copy and "user_properties" not in copy
    assert copy["events"] == body["events"] and copy["client_id"] == pseudonym("123.456", EU_KEY)


def test_enriched_tsv_copies_lose_fine_geo_and_keep_their_columns(pipeline: Pipeline) -> None:
    values = dict.fromkeys(ENRICHED_FIELDS, "")
    values |= {"event_id": "e-1", "collector_tstamp": "2026-11-28 13:45:12.345",
               "user_ipaddress": "81.2.69.142", "geo_country": "GB", "geo_city": "London",
               "geo_latitude": "51.5", "user_id": "user-7",
               "page_urlquery": "email=jane%40example.com", "v_etl": "enrich-5"}  # fmt: skip
    line = "\t".join(values[name] for name in ENRICHED_FIELDS).encode()
    result = only(pipeline.process(line, SOURCE))
    copy = next(out.value for out in result.outputs if out.topic == "events.global").decode().split("\t")
    columns = dict(zip(ENRICHED_FIELDS, copy, strict=True))
    assert len(copy) == len(ENRICHED_FIELDS)
    assert columns["geo_country"] == "GB" and columns["geo_city"] == "" and columns["geo_latitude"] == ""
    assert (
        columns["user_ipaddress"] == "81.2.69.0" and columns["collector_tstamp"] == "2026-11-28 13:00:00.000"
    )
    assert columns["page_urlquery"] == ""  # a query string never leaves


def test_nothing_at_all_leaves_cn_or_ru(pipeline: Pipeline) -> None:
    for ip, region in (("114.114.114.114", "cn"), ("77.88.55.66", "ru")):
        result = only(pipeline.process(orjson.dumps(identify(ip=ip)), SOURCE))
        assert [out.topic for out in result.outputs] == [f"events.{region}"]


def test_a_rotated_key_pseudonymizes_new_data_with_its_version() -> None:
    rotated = KeyRing([PseudonymKey("eu", 3, bytes([9]) * 32), *(KEYS.for_region(r) for r in KEYS.regions())])
    copy = outputs_by_topic(
        only(Pipeline(load_config(None), rotated).process(orjson.dumps(identify()), SOURCE))
    )
    assert copy["events.global"]["userId"].startswith("pz:eu:3:")


def test_the_audit_record_names_fields_and_key_version_but_holds_no_personal_data(pipeline: Pipeline) -> None:
    result = only(pipeline.process(orjson.dumps(identify()), SOURCE))
    audit = result.audit
    assert audit["event_id"] == MESSAGE_ID and audit["region"] == "eu" and audit["outcome"] == "routed"
    assert audit["source"] == {"topic": "events.ingest", "partition": 0, "offset": 77, "index": 0}
    assert audit["key_version"] == 2 and audit["policy_hash"].startswith("sha256:")
    home, copy = audit["outputs"]
    assert home == {"topic": "events.eu", "form": "full", "transformed": [], "found_in_text": {}}
    transformed = {(t["field"], t["transform"]) for t in copy["transformed"]}
    assert {("userId", "pseudonymize"), ("context.ip", "generalize")} <= transformed
    assert copy["dropped"] == ["traits"]  # paths only, never values
    text = orjson.dumps(audit)
    for clear in (b"jane", b"Jane", b"user-7", b"81.2.69.142", b"7946"):
        assert clear not in text


TOKENIZING = """
policy_version: t
regions:
  eu: {countries: [EU27, GB], topic: events.eu, transfers: {global: tokens}}
  row: {countries: "*", topic: events.row}
destinations:
  global: {topic: events.global, keep: [traits.email]}
field_rules:
  tokens: {user_id: tokenize, email: tokenize}
  pseudonymized: {}
erasure: {after: suppress}
"""


def test_tokens_reverse_only_with_the_subjects_key_and_erasure_destroys_it() -> None:
    config = parse_config(TOKENIZING)
    pipeline = Pipeline(config, KEYS)
    copy = outputs_by_topic(only(pipeline.process(orjson.dumps(identify()), SOURCE)))["events.global"]
    assert copy["userId"].startswith("tk:eu:") and copy["traits"]["email"].startswith("tk:eu:")
    subjects = pipeline.subjects
    key = subjects.key_for("eu", "user-7", KEYS)
    assert key is not None
    assert detokenize(copy["traits"]["email"], lambda region, dek: key if dek == key.dek_id else None) == (
        "jane@example.com"
    )
    subjects.erase("user-7", KEYS)
    assert subjects.key_for("eu", "user-7", KEYS) is None
    later = only(pipeline.process(orjson.dumps(identify()), SOURCE))
    assert later.outputs == [] and later.audit["outcome"] == "suppressed"


def test_an_erased_subject_can_be_fully_pseudonymized_instead_of_suppressed() -> None:
    config = parse_config(TOKENIZING.replace("after: suppress", "after: pseudonymize"))
    pipeline = Pipeline(config, KEYS)
    pipeline.subjects.erase("user-7", KEYS)
    result = only(pipeline.process(orjson.dumps(identify()), SOURCE))
    home = outputs_by_topic(result)["events.eu"]
    assert home["userId"] == pseudonym("user-7", EU_KEY) and b"Jane" not in result.outputs[0].value


def consenting(analytics: bool) -> bytes:
    event = identify(consent={"categoryPreferences": {"Analytics": analytics, "Advertising": False}})
    return orjson.dumps(event)


def test_a_destination_is_withheld_when_consent_denies_its_purpose(pipeline: Pipeline) -> None:
    denied = only(pipeline.process(consenting(False), SOURCE))
    assert [out.topic for out in denied.outputs] == ["events.eu"]
    assert denied.audit["withheld_by_consent"] == ["global"]
    granted = only(pipeline.process(consenting(True), SOURCE))
    assert [out.topic for out in granted.outputs] == ["events.eu", "events.global"]


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        (
            "{leaky: {email: keep}}",
            "regions.eu.transfers.global: field rules 'leaky' keep email in the clear",
        ),
        ("{leaky: {email: generalize}}", "field_rules.leaky.email: 'generalize' does not apply to email"),
        (
            "{leaky: {timestamp: tokenize}}",
            "field_rules.leaky.timestamp: 'tokenize' does not apply to timestamp",
        ),
        ("{leaky: {paths: {segment: {properties.note: keep}}}}", "keep segment.properties.note in the clear"),
    ],
)
def test_policies_that_would_leak_are_refused_with_the_path(rules: str, problem: str) -> None:
    text = f"""
policy_version: t
regions:
  eu: {{countries: [EU27], topic: events.eu, transfers: {{global: leaky}}}}
field_rules: {rules}
"""
    with pytest.raises(ConfigError) as error:
        parse_config(text.replace("field_rules: {", "field_rules: {pseudonymized: {}, ", 1))
    assert any(problem in p for p in error.value.problems), error.value.problems


def test_transfers_name_real_destinations_and_rules() -> None:
    text = """
policy_version: t
regions:
  eu: {countries: [EU27], topic: events.eu, home: nope, transfers: {moon: pseudonymized, global: full}}
"""
    with pytest.raises(ConfigError) as error:
        parse_config(text)
    problems = "\n".join(error.value.problems)
    assert "regions.eu.home: no field rules named 'nope'" in problems
    assert "regions.eu.transfers.moon: no destination named 'moon'" in problems
    assert "regions.eu.transfers.global: the full event never leaves its home topic" in problems


def test_the_home_topic_can_take_field_rules_of_its_own() -> None:
    config = parse_config(TOKENIZING.replace("topic: events.eu,", "topic: events.eu, home: pseudonymized,"))
    result = only(Pipeline(config, KEYS).process(orjson.dumps(identify()), SOURCE))
    home = outputs_by_topic(result)["events.eu"]
    assert home["userId"] == pseudonym("user-7", EU_KEY) and "firstName" not in home["traits"]
    assert result.audit["outputs"][0]["form"] == "pseudonymized"


ADS = """
policy_version: t
destinations:
  global: {topic: events.global, purpose: analytics}
  ads: {topic: events.ads, purpose: advertising}
regions:
  eu: {countries: [EU27, GB], topic: events.eu, transfers: {global: pseudonymized, ads: pseudonymized}}
  row: {countries: "*", topic: events.row}
"""


@pytest.mark.parametrize("granted", [True, False])
def test_ga4_consent_gates_the_advertising_destination(granted: bool) -> None:
    body = {"client_id": "1.2", "ip_override": "81.2.69.142", "events": [{"name": "purchase", "params": {}}],
            "consent": {"ad_user_data": "GRANTED" if granted else "DENIED",
                        "ad_personalization": "GRANTED"}}  # fmt: skip
    result = only(Pipeline(parse_config(ADS), KEYS).process(orjson.dumps(body), SOURCE))
    topics = [out.topic for out in result.outputs]
    assert topics == (
        ["events.eu", "events.global", "events.ads"] if granted else ["events.eu", "events.global"]
    )


@pytest.mark.parametrize(("scopes", "expected"), [(["analytics"], ["events.eu", "events.global"]),
                                                  (["necessary"], ["events.eu"])])  # fmt: skip
def test_snowplow_consent_entities_gate_destinations(scopes: list[str], expected: list[str]) -> None:
    consent = {"schema": "iglu:com.snowplowanalytics.snowplow/consent_preferences/jsonschema/1-0-0",
               "data": {"basisForProcessing": "consent", "consentUrl": "https://shop.example/privacy",
                        "consentVersion": "1", "consentScopes": scopes, "domainsApplied": ["shop.example"],
                        "eventType": "allow_selected"}}  # fmt: skip
    contexts = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1", "data": [consent]}
    event = {"e": "pv", "tv": "js-4", "p": "web", "ip": "81.2.69.142", "co": orjson.dumps(contexts).decode()}
    result = only(
        Pipeline(load_config(None), KEYS).process(orjson.dumps({"schema": SNOWPLOW, "data": [event]}), SOURCE)
    )
    assert [out.topic for out in result.outputs] == expected
