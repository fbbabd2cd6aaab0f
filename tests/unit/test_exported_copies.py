"""Default-deny copies: what leaves a region is what an allowlist names, and each dropped path is audited."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streams.allowlist import ANY, Each, Leaf, Obj, Step, Subtree, Treat, parse_keep_path, with_keep_paths
from streams.config import ConfigError, load_config, parse_config
from streams.formats.snowplow_enriched import ENRICHED_FIELDS
from streams.identities import kept_key_kind, kind_of_key, kind_of_trait
from streams.keys import KeyRing, PseudonymKey
from streams.pipeline import EventResult, Pipeline
from streams.pseudonymize import pseudonym
from streams.routing import Source

SOURCE = Source("events.ingest", 0, 5)
KEYS = KeyRing([PseudonymKey(region, 1, bytes([n]) * 32) for n, region in enumerate(
    ["eu", "us", "cn", "in", "ru", "row"], start=1)])  # fmt: skip
EU_KEY = KEYS.for_region("eu")
GB_IP = "81.2.69.142"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(load_config(None), KEYS)


def policy(destination: str) -> Pipeline:
    text = f"""
policy_version: t
destinations:
  global: {destination}
regions:
  eu: {{countries: [EU27, GB], topic: events.eu, transfers: {{global: pseudonymized}}}}
  row: {{countries: "*", topic: events.row}}
"""
    return Pipeline(parse_config(text), KEYS)


def exported(pipeline: Pipeline, payload: dict[str, Any] | bytes) -> tuple[Any, dict[str, Any]]:
    """The global copy of a one-event payload, parsed, and its audited output."""
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    [result] = pipeline.process(raw, SOURCE)
    return _copy(result)


def _copy(result: EventResult) -> tuple[Any, dict[str, Any]]:
    [copy] = [out for out in result.outputs if out.topic == "events.global"]
    [audited] = [out for out in result.audit["outputs"] if out["topic"] == "events.global"]
    try:
        return orjson.loads(copy.value), audited
    except orjson.JSONDecodeError:
        return copy.value.decode(), audited


def track(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "track", "event": "Signed Up", "userId": "u-123", "messageId": "m-1",
                             "context": {"ip": GB_IP}}  # fmt: skip
    for key, value in fields.items():
        if key == "context":
            event["context"] = {**event["context"], **value}
        else:
            event[key] = value
    return event


# --- the allowlist --------------------------------------------------------------------------------


def test_a_custom_property_never_leaves_and_its_path_is_named_in_the_audit(pipeline: Pipeline) -> None:
    copy, audited = exported(pipeline, track(properties={"customer_name": "Jane Doe", "revenue": 12.5}))
    assert copy["properties"] == {"revenue": 12.5}
    assert "properties.customer_name" in audited["dropped"]
    assert b"Jane" not in orjson.dumps(audited)


@pytest.mark.parametrize(
    "traits", ["Jane Doe, 1 Main St", ["Jane", "Doe"], {"Name": "Jane", "FIRST_NAME": "J"}]
)
def test_traits_of_any_shape_or_casing_never_leave(pipeline: Pipeline, traits: Any) -> None:
    copy, audited = exported(pipeline, track(traits=traits, context={"traits": traits}))
    assert "traits" not in copy and "traits" not in copy["context"]
    assert {"traits", "context.traits"} <= set(audited["dropped"])


def test_identifiers_the_segment_spec_defines_never_leave_in_clear(pipeline: Pipeline) -> None:
    event = track(
        traits={"id": "trait-id-1"},
        context={"device": {"id": "dev-1", "token": "push-token-1", "name": "Jane's iPhone",
                            "advertisingId": "ad-1", "model": "iPhone15,2"}},
    )  # fmt: skip
    copy, audited = exported(pipeline, event)
    text = orjson.dumps(copy)
    for clear in (b"trait-id-1", b"dev-1", b"push-token-1", b"Jane", b"ad-1"):
        assert clear not in text
    assert copy["context"]["device"] == {
        "id": pseudonym("dev-1", EU_KEY),
        "advertisingId": pseudonym("ad-1", EU_KEY),
        "model": "iPhone15,2",
    }
    assert {"context.device.token", "context.device.name"} <= set(audited["dropped"])


def test_rudderstack_ids_are_pseudonymized_and_external_ids_stay_home(pipeline: Pipeline) -> None:
    event = track(rudderId="rudder-1", request_ip="85.214.132.117",
                  context={"externalId": [{"id": "ext-1", "type": "brazeExternalId"}]})  # fmt: skip
    copy, audited = exported(pipeline, event)
    assert copy["rudderId"] == pseudonym("rudder-1", EU_KEY) and copy["request_ip"] == "85.214.132.0"
    assert "externalId" not in copy["context"] and "context.externalId" in audited["dropped"]


def test_a_url_leaves_without_query_fragment_path_parameters_or_user_info(pipeline: Pipeline) -> None:
    url = "https://jane:secret@shop.example/cart;jsessionid=ABC?ajs_uid=u-123&_sp=x.y#top"
    copy, _ = exported(pipeline, track(context={"page": {"url": url, "referrer": url, "path": "/cart?x=1"}}))
    assert copy["context"]["page"] == {
        "url": "https://shop.example/cart",
        "referrer": "https://shop.example",
        "path": "/cart",
    }


def test_this_events_own_ids_are_replaced_wherever_a_kept_string_repeats_them(pipeline: Pipeline) -> None:
    event = track(anonymousId="anon-777", context={"page": {"path": "/users/u-123/profile", "url":
                  "https://x.example/a/ANON-777/b"}})  # fmt: skip
    copy, audited = exported(pipeline, event)
    user, anonymous = pseudonym("u-123", EU_KEY), pseudonym("anon-777", EU_KEY)
    assert copy["context"]["page"] == {
        "path": f"/users/{user}/profile",
        "url": f"https://x.example/a/{anonymous}/b",
    }
    assert audited["found_in_text"] == {"user_id": 1, "anonymous_id": 1}


def test_an_object_where_a_scalar_belongs_and_a_list_where_an_object_belongs_are_dropped(
    pipeline: Pipeline,
) -> None:
    event = track(event={"name": "x", "email": "a@b.example"}, context={"page": ["/a"], "library": "x"})
    copy, audited = exported(pipeline, event)
    assert "event" not in copy and "page" not in copy["context"] and "library" not in copy["context"]
    assert {"event", "context.page", "context.library"} <= set(audited["dropped"])


def test_a_dropped_key_that_could_be_personal_is_not_named_in_the_audit(pipeline: Pipeline) -> None:
    _, audited = exported(pipeline, track(properties={"jane@x.example": 1, "u-123": 2, "plan_tier": 3}))
    assert "properties.<key>" in audited["dropped"] and "properties.plan_tier" in audited["dropped"]
    assert b"jane" not in orjson.dumps(audited) and b"u-123" not in orjson.dumps(audited)


def test_the_default_copy_still_serves_analytics(pipeline: Pipeline) -> None:
    event = track(
        event="Order Completed",
        timestamp="2026-11-28T13:45:12.345Z",
        context={"library": {"name": "analytics.js", "version": "2.1.0"}, "locale": "en-GB",
                 "os": {"name": "iOS", "version": "17.1"}, "page": {"path": "/checkout"},
                 "campaign": {"name": "winter", "source": "news", "medium": "email", "content": "tok"}},
        properties={"revenue": 99.5, "currency": "EUR", "order_id": "o-1",
                    "products": [{"sku": "sku-1", "name": "Boot", "price": 99.5, "quantity": 1,
                                  "note": "x"}]},
    )  # fmt: skip
    copy, _ = exported(pipeline, event)
    assert copy["event"] == "Order Completed" and copy["timestamp"] == "2026-11-28T13:00:00.000Z"
    assert copy["context"]["campaign"] == {"name": "winter", "source": "news", "medium": "email"}
    assert copy["properties"]["products"] == [{"sku": "sku-1", "name": "Boot", "price": 99.5, "quantity": 1}]
    assert copy["properties"]["order_id"] == pseudonym("o-1", EU_KEY)
    assert copy["context"]["os"] == {"name": "iOS", "version": "17.1"}


def test_ga4_event_times_are_cut_to_the_hour_like_the_body_time(pipeline: Pipeline) -> None:
    body = {"client_id": "1.2", "ip_override": GB_IP, "timestamp_micros": 1764337512345678,
            "events": [{"name": "page_view", "timestamp_micros": 1764337512345678,
                        "params": {"page_location": "https://x.example/p?q=1", "my_param": "jane",
                                   "page_title": "Jane's page", "session_id": "1764337512"}}]}  # fmt: skip
    copy, audited = exported(pipeline, body)
    assert copy["timestamp_micros"] == 1764334800000000
    [event] = copy["events"]
    assert event["timestamp_micros"] == 1764334800000000
    assert event["params"] == {
        "page_location": "https://x.example/p",
        "session_id": pseudonym("1764337512", EU_KEY),
    }
    assert {"events[*].params.my_param", "events[*].params.page_title"} <= set(audited["dropped"])


def test_snowplow_device_and_session_ids_leave_pseudonymized(pipeline: Pipeline) -> None:
    entities = {"schema": CONTEXTS, "data": [
        {"schema": "iglu:com.snowplowanalytics.snowplow/mobile_context/jsonschema/1-0-3",
         "data": {"osType": "ios", "appleIdfa": "IDFA-1", "appleIdfv": "IDFV-1", "deviceModel": "iPhone"}},
        {"schema": "iglu:com.snowplowanalytics.snowplow/client_session/jsonschema/1-0-2",
         "data": {"userId": "cookie-1", "sessionId": "sess-1", "sessionIndex": 3}},
    ]}  # fmt: skip
    event = {
        "e": "pv",
        "tv": "ios-5",
        "p": "mob",
        "ip": GB_IP,
        "sid": "sess-1",
        "co": orjson.dumps(entities).decode(),
    }
    body, _ = exported(pipeline, {"schema": PAYLOAD_DATA, "data": [event]})
    [copy] = body["data"]
    mobile, session = (entity["data"] for entity in orjson.loads(copy["co"])["data"])
    assert mobile == {"osType": "ios", "deviceModel": "iPhone", "appleIdfa": pseudonym("IDFA-1", EU_KEY),
                      "appleIdfv": pseudonym("IDFV-1", EU_KEY)}  # fmt: skip
    assert session == {"userId": pseudonym("cookie-1", EU_KEY), "sessionId": pseudonym("sess-1", EU_KEY),
                       "sessionIndex": 3}  # fmt: skip
    assert copy["sid"] == pseudonym("sess-1", EU_KEY)


def test_a_self_describing_event_of_another_schema_keeps_its_schema_and_none_of_its_data(
    pipeline: Pipeline,
) -> None:
    unstruct = {
        "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
        "data": {"schema": "iglu:com.acme/signup/jsonschema/1-0-0", "data": {"plan": "pro", "name": "Jane"}},
    }
    event = {"e": "ue", "tv": "js-4", "p": "web", "ip": GB_IP, "ue_pr": orjson.dumps(unstruct).decode()}
    body, audited = exported(pipeline, {"schema": PAYLOAD_DATA, "data": [event]})
    [copy] = body["data"]
    assert orjson.loads(copy["ue_pr"])["data"] == {
        "schema": "iglu:com.acme/signup/jsonschema/1-0-0",
        "data": {},
    }
    assert "ue_pr.data.data" in audited["dropped"]


def test_an_enriched_tsv_copy_keeps_its_131_columns_and_leaves_dropped_ones_empty(pipeline: Pipeline) -> None:
    values = dict.fromkeys(ENRICHED_FIELDS, "")
    values |= {"event_id": "e-1", "collector_tstamp": "2026-11-28 13:45:12.345", "v_etl": "enrich-5",
               "user_ipaddress": GB_IP, "page_title": "Jane's basket", "se_label": "jane@x.example",
               "mkt_clickid": "gclid-1", "page_urlpath": "/basket"}  # fmt: skip
    line = "\t".join(values[name] for name in ENRICHED_FIELDS).encode()
    copy, audited = exported(pipeline, line)
    columns = dict(zip(ENRICHED_FIELDS, copy.split("\t"), strict=True))
    assert columns["page_title"] == columns["se_label"] == columns["mkt_clickid"] == ""
    assert columns["page_urlpath"] == "/basket" and columns["event_id"] == "e-1"
    assert {"page_title", "se_label", "mkt_clickid"} <= set(audited["dropped"])


def test_enriched_json_keeps_snowplows_entities_and_drops_others(pipeline: Pipeline) -> None:
    event = {"event_id": "e-1", "collector_tstamp": "2026-11-28T13:45:12.345Z", "v_etl": "enrich-5",
             "user_ipaddress": GB_IP, "contexts_com_snowplowanalytics_snowplow_web_page_1": [{"id": "pv-1"}],
             "contexts_com_acme_user_1": [{"email": "jane@x.example"}]}  # fmt: skip
    copy, audited = exported(pipeline, event)
    assert copy["contexts_com_snowplowanalytics_snowplow_web_page_1"] == [{"id": "pv-1"}]
    assert "contexts_com_acme_user_1" not in copy and "contexts_com_acme_user_1" in audited["dropped"]


# --- what a destination adds ----------------------------------------------------------------------


def test_keep_paths_with_globs_add_fields_for_one_destination() -> None:
    pipeline = policy('{topic: events.global, keep: [properties.plan, "properties.products[*].color"]}')
    event = track(
        properties={"plan": "pro", "secret": "s", "products": [{"sku": "a", "color": "red", "x": 1}]}
    )
    copy, _ = exported(pipeline, event)
    assert copy["properties"] == {"plan": "pro", "products": [{"sku": "a", "color": "red"}]}


def test_keep_paths_per_format_apply_only_to_that_format() -> None:
    pipeline = policy('{topic: events.global, keep: {ga4: ["events[*].params.plan"]}}')
    body = {"client_id": "1.2", "ip_override": GB_IP, "events": [{"name": "x", "params": {"plan": "pro"}}]}
    ga4, _ = exported(pipeline, body)
    assert ga4["events"][0]["params"] == {"plan": "pro"}
    segment, _ = exported(pipeline, track(properties={"plan": "pro"}))
    assert "properties" not in segment


def test_a_kept_id_or_personal_key_is_still_transformed_as_its_kind() -> None:
    pipeline = policy("{topic: events.global, keep: [properties.loyalty_user_id, properties.contact_email, "
                      "properties.first_name]}")  # fmt: skip
    event = track(
        properties={"loyalty_user_id": "L-9", "contact_email": "Jane@X.example", "first_name": "Jane"}
    )
    copy, _ = exported(pipeline, event)
    assert copy["properties"] == {
        "loyalty_user_id": pseudonym("L-9", EU_KEY),
        "contact_email": pseudonym("jane@x.example", EU_KEY),
    }


def test_keeping_a_whole_object_keeps_its_other_keys_scanned_and_its_personal_keys_transformed() -> None:
    pipeline = policy("{topic: events.global, keep: [properties]}")
    event = track(properties={"plan": "pro", "name": "Boot", "customer": {"name": "Jane", "id": "c-1"},
                              "note": "mail jane@x.example"})  # fmt: skip
    copy, _ = exported(pipeline, event)
    assert copy["properties"]["plan"] == "pro" and copy["properties"]["name"] == "Boot"
    assert copy["properties"]["customer"] == {"id": pseudonym("c-1", EU_KEY)}
    assert "jane" not in copy["properties"]["note"]


def test_a_wildcard_kept_key_that_holds_personal_data_is_dropped() -> None:
    pipeline = policy('{topic: events.global, keep: ["properties.flags.*"]}')
    copy, audited = exported(pipeline, track(properties={"flags": {"beta": True, "jane@x.example": True}}))
    assert copy["properties"]["flags"] == {"beta": True}
    assert "properties.flags.<key>" in audited["dropped"]


def test_unknown_fields_scan_keeps_what_no_allowlist_names_but_still_transforms_personal_keys() -> None:
    pipeline = policy("{topic: events.global, unknown_fields: scan}")
    event = track(properties={"plan": "pro", "customer_email": "Jane@X.example", "full_name": "Jane Doe"},
                  traits={"name": "Jane", "tier": "gold"})  # fmt: skip
    copy, audited = exported(pipeline, event)
    assert copy["properties"] == {"plan": "pro", "customer_email": pseudonym("jane@x.example", EU_KEY)}
    assert copy["traits"] == {"tier": "gold"}
    assert audited["dropped"] == ["properties.full_name", "traits.name"]


def test_check_config_warns_that_scan_mode_can_leak() -> None:
    config = parse_config("""
policy_version: t
destinations: {global: {topic: events.global, unknown_fields: scan}}
regions: {eu: {countries: [EU27], topic: events.eu, transfers: {global: pseudonymized}}}
""")
    [warning] = config.warnings()
    assert warning.startswith("destinations.global.unknown_fields: scan keeps every field no allowlist names")


@pytest.mark.parametrize(
    ("keep", "problem"),
    [
        ('["properties..plan"]', "'properties..plan' has an empty key"),
        ('["[*].x"]', "must start with a key"),
        ('["properties."]', "ends with '.'"),
    ],
)
def test_a_malformed_keep_path_is_refused_with_its_path(keep: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(f"""
policy_version: t
destinations: {{global: {{topic: events.global, keep: {keep}}}}}
regions: {{eu: {{countries: [EU27], topic: events.eu, transfers: {{global: pseudonymized}}}}}}
""")
    assert any(p.startswith("destinations.global.keep") and problem in p for p in error.value.problems), (
        error.value.problems
    )


def test_a_field_rule_path_that_drops_wins_over_the_allowlist() -> None:
    text = """
policy_version: t
regions:
  eu: {countries: [EU27, GB], topic: events.eu, transfers: {global: strict}}
  row: {countries: "*", topic: events.row}
field_rules:
  pseudonymized: {}
  strict: {paths: {segment: {context.locale: drop, properties.loyalty: tokenize}}}
"""
    pipeline = Pipeline(parse_config(text), KEYS)
    copy, _ = exported(pipeline, track(context={"locale": "en-GB"}, properties={"loyalty": "L-1"}))
    assert "locale" not in copy["context"] and copy["properties"]["loyalty"].startswith("tk:eu:")


def test_a_generic_copy_holds_only_the_fields_the_policy_names() -> None:
    text = """
policy_version: t
topics: {ingest: [events.ingest], ingest_formats: {events.ingest: generic}}
formats: {generic: {ip: [client.ip], identifiers: [user.id], emails: [user.email], timestamps: [at]}}
regions:
  eu: {countries: [EU27, GB], topic: events.eu, transfers: {global: pseudonymized}}
  row: {countries: "*", topic: events.row}
"""
    pipeline = Pipeline(parse_config(text), KEYS)
    event = {"user": {"id": "u-1", "email": "a@b.example", "name": "Jane"}, "client": {"ip": GB_IP},
             "at": "2026-11-28T13:45:00Z", "action": "signup"}  # fmt: skip
    copy, audited = exported(pipeline, event)
    assert copy == {"user": {"id": pseudonym("u-1", EU_KEY), "email": pseudonym("a@b.example", EU_KEY)},
                    "client": {"ip": "81.2.69.0"}, "at": "2026-11-28T13:00:00Z"}  # fmt: skip
    assert {"user.name", "action"} <= set(audited["dropped"])


# --- the pieces -----------------------------------------------------------------------------------


def test_keep_paths_parse_keys_list_steps_and_schema_selectors() -> None:
    assert parse_keep_path("properties.products[*].sku") == (
        Step(key="properties"), Step(key="products"), Step(element=ANY), Step(key="sku"),
    )  # fmt: skip
    assert parse_keep_path("co.data[com.acme/product].data.sku")[2] == Step(element="com.acme/product")
    assert parse_keep_path(["context", "headers", "x.y"]) == (
        Step(key="context"), Step(key="headers"), Step(key="x.y"),
    )  # fmt: skip


def test_a_keep_path_that_cant_fit_the_formats_events_is_a_misfit() -> None:
    allowed = Obj({"properties": Obj({}), "items": Each(Obj({}))})
    compiled = with_keep_paths(
        allowed,
        [("properties[*].x", parse_keep_path("properties[*].x")), ("items.x", parse_keep_path("items.x"))],
        kept_key_kind,
    )
    assert compiled.misfits == ["properties[*].x", "items.x"]


def test_keeping_a_path_never_weakens_an_id_the_allowlist_pseudonymizes() -> None:
    allowed = Obj({"userId": Leaf(Treat.USER_ID)})
    compiled = with_keep_paths(allowed, [("userId", parse_keep_path("userId"))], kept_key_kind)
    leaf = compiled.root.fields["userId"]
    assert isinstance(leaf, Leaf) and leaf.treat is Treat.USER_ID and leaf.label == "userId"


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("email", Treat.EMAIL), ("Customer_Email", Treat.EMAIL), ("phoneNumber", Treat.PHONE),
        ("FIRST_NAME", Treat.NAME), ("lastName", Treat.NAME), ("street_address", Treat.NAME),
        ("userId", Treat.USER_ID), ("deviceId", Treat.ANONYMOUS_ID), ("appleIdfa", Treat.ANONYMOUS_ID),
        ("client_ip", Treat.IP), ("latitude", Treat.GEO), ("ip_address", Treat.IP),
        ("name", None), ("plan", None), ("product_name", None), ("emailed", Treat.EMAIL),
    ],
)  # fmt: skip
def test_a_keys_name_says_what_kind_of_personal_value_it_holds(key: str, kind: Treat | None) -> None:
    assert kind_of_key(key) is kind


def test_inside_a_trait_container_name_and_id_are_the_persons() -> None:
    assert kind_of_trait("name") is Treat.NAME and kind_of_trait("Id") is Treat.USER_ID
    assert kept_key_kind("plan") is Treat.KEEP and kept_key_kind("name") is Treat.KEEP


def test_own_values_come_from_id_fields_personal_keys_anywhere_and_traits(pipeline: Pipeline) -> None:
    # Each own value recurs in the kept page path; each is found there, whichever field held it.
    path = "/a/u-123/b/a-456/c/dev-9/d/trait-1/e/jane-doe/f/boot/g/pro"
    event = track(anonymousId="a-456", context={"device": {"id": "dev-9"}, "page": {"path": path}},
                  properties={"customer_email": "Jane@X.example", "name": "Boot"},
                  traits={"name": "Jane Doe", "id": "trait-1", "plan": "pro"})  # fmt: skip
    copy, audited = exported(pipeline, event)
    kept = copy["context"]["page"]["path"]
    for own in ("u-123", "a-456", "dev-9", "trait-1", "jane", "doe"):
        assert own not in kept
    # A product's name and a plan are no one's: they stay.
    assert "/f/boot/g/pro" in kept
    assert audited["found_in_text"] == {"user_id": 2, "anonymous_id": 2, "name": 2}


def test_subtree_leaves_are_unlabelled_until_compiled() -> None:
    compiled = with_keep_paths(Obj({"a": Obj({})}), [("a.b", parse_keep_path("a.b"))], kept_key_kind)
    node = compiled.root.fields["a"]
    assert isinstance(node, Obj) and isinstance(node.fields["b"], Subtree) and node.fields["b"].label == "a.b"


def test_an_event_with_both_co_and_cx_is_read_whole(pipeline: Pipeline) -> None:
    import base64

    def contexts(*entities: dict[str, Any]) -> bytes:
        return orjson.dumps({"schema": CONTEXTS, "data": list(entities)})

    web_page = {
        "schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0",
        "data": {"id": "pv-1"},
    }
    consent = {
        "schema": "iglu:com.snowplowanalytics.snowplow/consent_preferences/jsonschema/1-0-0",
        "data": {
            "basisForProcessing": "consent",
            "consentScopes": ["necessary"],
            "eventType": "allow_selected",
            "consentUrl": "https://x.example/privacy",
            "consentVersion": "1",
            "domainsApplied": ["x"],
        },
    }
    event = {"e": "pv", "tv": "js-4", "p": "web", "ip": GB_IP, "co": contexts(web_page).decode(),
             "cx": base64.urlsafe_b64encode(contexts(consent)).decode()}  # fmt: skip
    [result] = pipeline.process(orjson.dumps({"schema": PAYLOAD_DATA, "data": [event]}), SOURCE)
    # The consent in cx withholds the analytics copy, though co came first and said nothing of it.
    assert [out.topic for out in result.outputs] == ["events.eu"]
    assert result.audit["withheld_by_consent"] == ["global"]


def test_an_event_with_both_ue_pr_and_ue_px_is_dead_lettered(pipeline: Pipeline) -> None:
    unstruct = orjson.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                             "data": {"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": {}}})  # fmt: skip
    event = {"e": "ue", "tv": "js-4", "p": "web", "ip": GB_IP, "ue_pr": unstruct.decode(),
             "ue_px": __import__("base64").urlsafe_b64encode(unstruct).decode()}  # fmt: skip
    [result] = pipeline.process(orjson.dumps({"schema": PAYLOAD_DATA, "data": [event]}), SOURCE)
    assert [out.topic for out in result.outputs] == ["events.dead-letter"]
    assert result.error is not None and result.error.reason == "snowplow event carries both ue_pr and ue_px"


def test_an_event_with_more_identifiers_than_a_copy_can_look_for_keeps_no_scanned_string(
    pipeline: Pipeline,
) -> None:
    from streams.export import MAX_OWN_VALUES

    ids = {f"contact{i}_email": f"user{i}@x.example" for i in range(MAX_OWN_VALUES + 1)}
    copy, audited = exported(pipeline, track(event="Signed Up", properties=ids))
    assert "event" not in copy and "messageId" not in copy  # kept strings: none leaves
    assert copy["userId"] == pseudonym("u-123", EU_KEY)  # transformed ids still do
    assert len(audited["dropped"]) == 64 and audited["dropped_more"] > MAX_OWN_VALUES - 64


def test_a_payload_with_more_events_than_the_limit_is_dead_lettered_whole(pipeline: Pipeline) -> None:
    event = track()
    [result] = pipeline.process(orjson.dumps({"batch": [event] * 501}), SOURCE)
    assert [out.topic for out in result.outputs] == ["events.dead-letter"]
    assert result.error is not None
    assert result.error.reason == "payload holds 501 events, more than formats.max_events_per_payload (500)"
    assert len(pipeline.process(orjson.dumps({"batch": [event] * 500}), SOURCE)) == 500


@pytest.mark.parametrize(
    "message_id",
    [
        "+44 20 7946 0958",
        "amFuZUB4LmV4YW1wbGU",
        "jane@x.example",
        "81.2.69.142",
        "9e107d9d372bb6826bd81d3542a419d6",
    ],
)
def test_an_event_id_the_value_scan_flags_is_audited_as_its_pseudonym(
    pipeline: Pipeline, message_id: str
) -> None:
    # base64 of jane@x.example without its padding, a phone, an email, an IP, an MD5: none may
    # reach the audit topic, which is read outside the event's region.
    [result] = pipeline.process(orjson.dumps(track(messageId=message_id)), SOURCE)
    assert result.audit["event_id"].startswith("pz:eu:1:")
    assert message_id not in orjson.dumps(result.audit).decode()


def test_a_generated_event_id_is_audited_as_it_is(pipeline: Pipeline) -> None:
    [result] = pipeline.process(orjson.dumps(track(messageId="ajs-next-8f1c2a7e3b4d")), SOURCE)
    assert result.audit["event_id"] == "ajs-next-8f1c2a7e3b4d"


# --- what a red-team probe found, each fixed by its principle -------------------------------------


def test_an_encoded_query_mark_still_ends_a_kept_url(pipeline: Pipeline) -> None:
    url = "https://s.example/search%3Fq%3DJohn%2BSmith"
    relative = "//john.smith:secret@s.example/x"
    copy, _ = exported(pipeline, track(context={"page": {"url": url, "path": "/a%253Fq=Jane"}},
                                       properties={"url": relative}))  # fmt: skip
    assert copy["context"]["page"] == {"url": "https://s.example/search", "path": "/a"}
    assert copy["properties"]["url"] == "//s.example/x"


def test_the_events_own_ids_and_names_are_found_in_their_other_spellings(pipeline: Pipeline) -> None:
    import base64

    own_id = "jd8812"
    path = f"/a/{base64.b64encode(own_id.encode()).decode()}/b/%6A%64%38%38%31%32/c/JaneDoe/d"
    event = track(userId=own_id, traits={"name": "Jane Doe"}, context={"page": {"path": path}})
    copy, _ = exported(pipeline, event)
    kept = copy["context"]["page"]["path"]
    assert "amQ4ODEy" not in kept and "%6A%64" not in kept and "JaneDoe" not in kept


def test_an_email_spelled_out_for_people_is_found(pipeline: Pipeline) -> None:
    copy, audited = exported(pipeline, track(event="mail jane.doe (at) example (dot) org"))
    assert "jane" not in copy["event"] and audited["found_in_text"] == {"email": 1}


def test_a_phone_number_sent_as_a_json_float_is_found(pipeline: Pipeline) -> None:
    copy, _ = exported(pipeline, track(properties={"quantity": 447946095812.0, "price": 12.5}))
    assert copy["properties"]["price"] == 12.5
    assert str(copy["properties"]["quantity"]).startswith("pz:eu:1:")


def test_a_schema_name_holding_personal_data_leaves_as_withheld(pipeline: Pipeline) -> None:
    from streams.export import WITHHELD_SCHEMA

    unstruct = {
        "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
        "data": {"schema": "iglu:com.acme/call_447946095812/jsonschema/1-0-0", "data": {"x": 1}},
    }
    event = {"e": "ue", "tv": "js-4", "p": "web", "ip": GB_IP, "ue_pr": orjson.dumps(unstruct).decode()}
    body, audited = exported(pipeline, {"schema": PAYLOAD_DATA, "data": [event]})
    [copy] = body["data"]
    assert orjson.loads(copy["ue_pr"])["data"] == {"schema": WITHHELD_SCHEMA, "data": {}}
    assert "447946095812" not in orjson.dumps(audited).decode()


@pytest.mark.parametrize("key", ["p447946095812", "ip-81-2-69-142", "jane_doe", "JaneDoe", "u-123-cart"])
def test_a_dropped_key_holding_personal_data_is_not_named_in_the_audit(pipeline: Pipeline, key: str) -> None:
    _, audited = exported(pipeline, track(traits={"name": "Jane Doe"}, properties={key: 1}))
    assert "properties.<key>" in audited["dropped"]
    assert key.lower() not in orjson.dumps(audited).decode().lower()


def test_a_batch_shares_one_scan_budget_so_it_cant_multiply_the_work(pipeline: Pipeline) -> None:
    import base64

    # Base64-looking kept strings are decoded and scanned each time; 200 events of 8 kB of them
    # would be 1.6 MB of scanning without a budget per payload. Past it, kept strings are dropped.
    blob = base64.b64encode(bytes(range(256)) * 24).decode()
    events = [track(event=f"e{n}", context={"campaign": {"name": blob}}) for n in range(200)]
    results = pipeline.process(orjson.dumps({"batch": events}), SOURCE)
    copies = [orjson.loads(out.value) for r in results for out in r.outputs if out.topic == "events.global"]
    kept = sum(1 for copy in copies if "name" in copy["context"].get("campaign", {}))
    assert len(copies) == 200 and 0 < kept < 40


def test_markup_between_the_parts_of_a_value_hides_nothing(pipeline: Pipeline) -> None:
    copy, _ = exported(
        pipeline, track(properties={"name": "call +44 20 <b>7946</b> 0958 or bob<i>@</i>x.org"})
    )
    assert "7946" not in copy["properties"]["name"] and "bob" not in copy["properties"]["name"]


def test_an_own_emails_local_part_on_its_own_is_the_persons(pipeline: Pipeline) -> None:
    copy, _ = exported(
        pipeline, track(traits={"email": "jdoe77@mailbox.example"}, properties={"name": "by jdoe77"})
    )
    assert "jdoe77" not in copy["properties"]["name"]


def test_a_snowplow_event_id_that_is_an_entitys_name_is_audited_as_a_pseudonym(pipeline: Pipeline) -> None:
    user = {"schema": "iglu:com.acme/user/jsonschema/1-0-0", "data": {"name": "Marguerite Zylstra"}}
    entities = {"schema": CONTEXTS, "data": [user]}
    event = {"e": "pv", "tv": "js-4", "p": "web", "ip": GB_IP, "eid": "marguerite-zylstra",
             "co": orjson.dumps(entities).decode()}  # fmt: skip
    [result] = pipeline.process(orjson.dumps({"schema": PAYLOAD_DATA, "data": [event]}), SOURCE)
    assert result.audit["event_id"].startswith("pz:eu:1:")


def test_a_custom_enriched_json_entitys_name_is_the_persons(pipeline: Pipeline) -> None:
    event = {"event_id": "e-1", "collector_tstamp": "2026-11-28T13:45:12.345Z", "v_etl": "enrich-5",
             "user_ipaddress": GB_IP, "se_category": "Marguerite Zylstra cust-5521",
             "contexts_com_acme_user_1": [{"name": "Marguerite Zylstra", "id": "cust-5521"}]}  # fmt: skip
    copy, _ = exported(pipeline, event)
    assert "Marguerite" not in copy["se_category"] and "cust-5521" not in copy["se_category"]
