"""Every signal fails closed: evidence that is present but can't be read, or that disagrees, holds the event.

Each case that once slipped through (a declaration the IP overrode because it wasn't a
string, a `cx` nobody read, a territory that went to row) runs through `Pipeline.process`
under the shipped policy and must end in quarantine: no regional topic, no export.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from importlib import resources
from typing import Any

import orjson
import pytest
import yaml

from streams.classify.geolocation import default_geolocator
from streams.config import GatewayConfig, load_config, parse_config
from streams.formats.detect import decode
from streams.keys.ring import development_keys
from streams.outcomes import EventResult, Source
from streams.pipeline import Pipeline

DE_IP, CN_IP = "85.214.132.117", "114.114.114.114"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
RESIDENCY = "iglu:io.residencygateway/residency/jsonschema/1-0-0"
WEB_PAGE = {"schema": "iglu:com.snowplowanalytics.snowplow/web_page/jsonschema/1-0-0", "data": {"id": "p1"}}
TERRITORIES = ("AX", "GF", "GP", "MQ", "RE", "YT", "MF")


def pipeline_for(config: GatewayConfig) -> Pipeline:
    return Pipeline(config, development_keys(config.key_regions()))


@functools.cache
def shipped() -> Pipeline:
    return pipeline_for(load_config(None))


@functools.cache
def with_jurisdiction(**settings: Any) -> Pipeline:
    """The shipped policy with other jurisdiction settings (tuples for lists, to be cacheable)."""
    policy = _shipped_policy()
    policy["jurisdiction"].update(
        {key: list(v) if isinstance(v, tuple) else v for key, v in settings.items()}
    )
    return pipeline_for(parse_config(yaml.safe_dump(policy)))


def _shipped_policy() -> Any:
    # Edited as data, not text: the loader rejects a duplicate key.
    return yaml.safe_load(resources.files("streams.config").joinpath("default_policy.yaml").read_text())


def process(payload: dict[str, Any] | bytes, pipeline: Pipeline | None = None) -> EventResult:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    [result] = (pipeline or shipped()).process(raw, Source("events.ingest", 0, 0))
    assert result.error is None, result.error.reason
    return result


def assert_held(result: EventResult, reason: str) -> None:
    """Quarantined, so neither the region's topic nor any export received it; `reason` starts the reason."""
    assert result.decision is not None and result.decision.region is None, result.decision
    assert [output.topic for output in result.outputs] == ["events.quarantine"]
    assert result.decision.reason.startswith(reason), result.decision.reason


def assert_routed(result: EventResult, region: str) -> None:
    assert result.decision is not None and result.decision.region == region, result.decision
    assert result.outputs[0].topic == f"events.{region}"


def segment(**context: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Signed Up", "userId": "u-1", "context": context}


def ga4(**fields: Any) -> dict[str, Any]:
    return {"client_id": "c.1", "events": [{"name": "page_view"}], **fields}


def snowplow(*, co: list[Any] | None = None, cx: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"e": "pv", "tv": "py-1.0.0", **fields}
    if co is not None:
        event["co"] = orjson.dumps({"schema": CONTEXTS, "data": co}).decode()
    if cx is not None:
        event["cx"] = base64.urlsafe_b64encode(orjson.dumps({"schema": CONTEXTS, "data": cx})).decode()
    return {"schema": PAYLOAD_DATA, "data": [event]}


def residency(value: Any, schema: str = RESIDENCY) -> dict[str, Any]:
    return {"schema": schema, "data": {"residency": value}}


def enriched_json(**fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "collector_tstamp": "2026-11-28T12:00:00Z", "v_etl": "enrich-5", **fields}


@functools.cache
def ip_in(country: str) -> str:
    """A public IPv4 address the bundled geolocation data places in `country`."""
    first, last = max(default_geolocator().ranges_of({country})[country], key=lambda r: r[1] - r[0])
    return str(ipaddress.IPv4Address((first + last) // 2))


# --- The reproduced cases, each held under the shipped policy ----------------------------------


@pytest.mark.parametrize(
    ("residency_value", "kind"),
    [
        (["CN"], "a JSON array"),
        ({"country": "CN"}, "a JSON object"),
        (156, "a JSON number"),
        (True, "a JSON boolean"),
    ],
    ids=["array", "object", "number", "boolean"],
)
def test_declared_residency_of_the_wrong_type_holds_the_event(residency_value: Any, kind: str) -> None:
    result = process(segment(residency=residency_value, ip=DE_IP))
    assert_held(result, f"unreadable: declared: {kind}, not a string (context.residency)")


def test_declared_residency_given_as_a_list_holds_the_event() -> None:
    assert_held(process(segment(residency=["CN"], ip=DE_IP)), "unreadable: declared: a JSON array")


def test_ga4_residency_user_property_as_a_plain_string_holds_the_event() -> None:
    result = process(ga4(user_properties={"residency": "cn"}, ip_override=DE_IP))
    assert_held(
        result,
        "unreadable: declared: user_properties.residency is a JSON string, not an object "
        "(user_properties.residency.value)",
    )


@pytest.mark.parametrize("user_properties", [{"residency": {"value": ["cn"]}}, {"residency": ["cn"]}, "cn"])
def test_ga4_residency_that_is_not_a_string_value_holds_the_event(user_properties: Any) -> None:
    assert_held(process(ga4(user_properties=user_properties, ip_override=DE_IP)), "unreadable: declared:")


def test_snowplow_residency_entity_holding_a_list_holds_the_event() -> None:
    result = process(snowplow(co=[residency(["cn"])], ip=DE_IP))
    assert_held(result, "unreadable: declared: a JSON array, not a string (co.data.0.data.residency)")


def test_snowplow_cx_is_read_alongside_co() -> None:
    result = process(snowplow(co=[WEB_PAGE], cx=[residency("cn")]))
    assert_routed(result, "cn")
    assert result.decision is not None and result.decision.reason == "declared: cn (cx.data.0.data.residency)"


def test_snowplow_cx_declaring_another_region_than_the_ip_is_held() -> None:
    result = process(snowplow(co=[WEB_PAGE], cx=[residency("cn")], ip=DE_IP))
    assert_held(result, "conflict: declared: cn (cx.data.0.data.residency) vs ip: DE -> eu (ip)")


def test_two_disagreeing_residency_entities_are_a_conflict_listed_in_the_reason() -> None:
    result = process(snowplow(co=[residency("eu")], cx=[residency("cn")]))
    assert_held(
        result, "conflict: declared: eu (co.data.0.data.residency) vs declared: cn (cx.data.0.data.residency)"
    )
    in_one_list = process(snowplow(co=[residency("eu"), WEB_PAGE, residency("cn")]))
    assert_held(in_one_list, "conflict: declared: eu (co.data.0.data.residency) vs declared: cn (co.data.2")


def test_two_disagreeing_declarations_are_held_even_under_precedence() -> None:
    result = process(
        snowplow(co=[residency("eu"), residency("cn")]), with_jurisdiction(on_conflict="precedence")
    )
    assert_held(result, "conflict: declared: eu")


def test_enriched_json_residency_context_that_is_an_object_holds_the_event() -> None:
    event = enriched_json(contexts_io_residencygateway_residency_1={"residency": "cn"}, user_ipaddress=DE_IP)
    assert_held(
        process(event),
        "unreadable: declared: contexts_io_residencygateway_residency_1 is a JSON object, not an array",
    )


def test_enriched_json_reads_every_residency_element() -> None:
    event = enriched_json(contexts_io_residencygateway_residency_1=[{"residency": "eu"}, {"residency": "cn"}])
    assert_held(
        process(event), "conflict: declared: eu (contexts_io_residencygateway_residency_1.0.residency) vs"
    )


def enriched_tsv(*entities: dict[str, Any]) -> bytes:
    from tests.collectors.enriched_lines import enriched_line

    contexts = orjson.dumps({"schema": CONTEXTS, "data": [WEB_PAGE, *entities]}).decode()
    # geo_country DE and a documentation-range IP: only the entities can disagree.
    return enriched_line({"contexts": contexts}, residency=None).encode()


def test_enriched_tsv_reads_every_residency_entity_of_contexts() -> None:
    result = process(enriched_tsv(residency("DE"), residency("cn")))
    assert_held(
        result,
        "conflict: declared: DE -> eu (contexts.data.1.data.residency) vs "
        "declared: cn (contexts.data.2.data.residency)",
    )
    assert_routed(process(enriched_tsv(residency("eu"), residency("FR"))), "eu")


def test_an_enriched_tsv_residency_entity_of_an_unknown_major_version_holds_the_event() -> None:
    entity = residency("eu", "iglu:io.residencygateway/residency/jsonschema/3-1-0")
    assert_held(
        process(enriched_tsv(entity)), "unreadable: declared: an entity of the schema in a major version"
    )


@pytest.mark.parametrize("element", [{}, {"residency": None}, {"residency": 7}, "eu"])
def test_an_enriched_json_residency_element_without_a_readable_residency_holds_the_event(
    element: Any,
) -> None:
    event = enriched_json(contexts_io_residencygateway_residency_1=[element], user_ipaddress=DE_IP)
    assert_held(process(event), "unreadable: declared:")


def test_an_enriched_json_residency_key_of_an_unknown_major_version_holds_the_event() -> None:
    event = enriched_json(
        contexts_io_residencygateway_residency_2=[{"residency": "eu"}], user_ipaddress=DE_IP
    )
    assert_held(
        process(event),
        "unreadable: declared: an entity of the schema in a major version the gateway doesn't know "
        "(contexts_io_residencygateway_residency_2)",
    )


def test_a_residency_entity_of_an_unknown_major_version_holds_the_event() -> None:
    entity = residency("eu", "iglu:io.residencygateway/residency/jsonschema/2-0-0")
    assert_held(
        process(snowplow(co=[entity], ip=DE_IP)), "unreadable: declared: an entity of the schema in a major"
    )
    ten = residency("eu", "iglu:io.residencygateway/residency/jsonschema/10-0-0")
    assert_held(process(snowplow(cx=[ten], ip=DE_IP)), "unreadable: declared:")


@pytest.mark.parametrize(
    "entity",
    [
        {"schema": RESIDENCY, "data": {}},
        {"schema": RESIDENCY, "data": {"residency": None}},
        {"schema": RESIDENCY},
        {"schema": RESIDENCY, "data": "eu"},
    ],
    ids=["no-residency", "null-residency", "no-data", "data-a-string"],
)
def test_a_residency_entity_without_a_readable_residency_holds_the_event(entity: dict[str, Any]) -> None:
    assert_held(process(snowplow(co=[entity], ip=DE_IP)), "unreadable: declared:")


@pytest.mark.parametrize("territory", TERRITORIES)
def test_eu_territories_go_to_eu_by_ip_and_declared(territory: str) -> None:
    assert_routed(process(segment(ip=ip_in(territory))), "eu")
    assert_routed(process(segment(residency=territory)), "eu")


def test_reunion_ip_goes_to_eu() -> None:
    result = process(segment(ip=ip_in("RE")))
    assert_routed(result, "eu")
    assert result.decision is not None and result.decision.reason == "ip: RE -> eu (context.ip)"


@pytest.mark.parametrize("ip", ["1000:db8::1", "4000::1", "::8.8.8.8", "198.18.0.1", "192.0.0.9"])
def test_ipv6_outside_2000_slash_3_is_no_signal(ip: str) -> None:
    assert_held(process(segment(ip=ip)), "no-signal: ip: a private or reserved address (context.ip)")


def test_dotless_i_declaration_is_unreadable() -> None:
    result = process(segment(residency="ın", ip=ip_in("IN")))
    assert_held(result, "unreadable: declared: a string with characters outside ASCII (context.residency)")
    assert result.decision is not None and "ın" not in result.decision.reason


# --- Every signal, every malformation ----------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   ", "ＣＮ", ["DE"], {"code": "DE"}, 49, False])
@pytest.mark.parametrize(
    "signal",
    ["residency", "headers", "ip", "locale", "timezone"],
)
def test_a_present_signal_that_cannot_be_read_holds_the_event(signal: str, value: Any) -> None:
    pipeline = with_jurisdiction(signals=("declared", "upstream_country", "ip", "locale", "timezone"))
    fields = {"headers": {"cf-ipcountry": value}} if signal == "headers" else {signal: value}
    result = process(segment(**{"ip": DE_IP, **fields}), pipeline)
    if signal == "ip" and value == "":
        assert_held(result, "no-signal: ip: an empty string (context.ip)")  # a collector's empty field
    else:
        assert_held(result, "unreadable: ")


@pytest.mark.parametrize("ip", ["1.2.3.4:80", "1.2.3.4, 10.0.0.1", "abc", "not-an-ip"])
def test_an_ip_that_is_not_one_address_holds_the_event(ip: str) -> None:
    assert_held(process(segment(ip=ip)), "unreadable: ip: not an IP address (context.ip)")


@pytest.mark.parametrize("marker", ["XX", "T1", "A1", "A2", "O1", "ZZ"])
def test_an_unknown_country_marker_from_a_cdn_is_no_signal(marker: str) -> None:
    assert_routed(process(segment(headers={"cf-ipcountry": marker}, ip=DE_IP)), "eu")


@pytest.mark.parametrize("code", ["EU", "DEU", "Deutschland"])
def test_an_upstream_country_that_is_no_iso_code_holds_the_event(code: str) -> None:
    assert_held(
        process(ga4(user_location={"country_id": code}, ip_override=DE_IP)), "unreadable: upstream_country:"
    )


def test_cdn_headers_are_matched_case_insensitively() -> None:
    result = process(segment(headers={"CF-IPCountry": "DE"}))
    assert_routed(result, "eu")
    assert (
        result.decision is not None
        and result.decision.reason == "upstream_country: DE -> eu (context.headers.CF-IPCountry)"
    )
    assert_held(process(segment(headers={"CF-IPCountry": "CN"}, ip=DE_IP)), "conflict: ")


def test_two_cdn_headers_that_disagree_are_a_conflict_even_under_precedence() -> None:
    headers = {"cf-ipcountry": "DE", "CloudFront-Viewer-Country": "CN"}
    result = process(segment(headers=headers), with_jurisdiction(on_conflict="precedence"))
    assert_held(
        result,
        "conflict: upstream_country: DE -> eu (context.headers.cf-ipcountry) vs "
        "upstream_country: CN -> cn (context.headers.CloudFront-Viewer-Country)",
    )


def test_a_container_of_the_wrong_type_on_the_way_to_a_signal_holds_the_event() -> None:
    result = process(segment(headers=["cf-ipcountry: DE"], ip=DE_IP))
    assert_held(result, "unreadable: upstream_country: context.headers is a JSON array, not an object")


def test_null_is_no_evidence_for_signals_other_than_the_declaration() -> None:
    assert_routed(process(segment(headers=None, ip=DE_IP)), "eu")
    assert_routed(process(segment(headers={"cf-ipcountry": None}, ip=DE_IP)), "eu")
    assert_held(process(segment(ip=None)), "no-signal:")


def test_ga4_value_null_clears_the_residency_property_so_it_declares_nothing() -> None:
    # The Measurement Protocol clears a user property with {"value": null}.
    assert_routed(process(ga4(user_properties={"residency": {"value": None}}, ip_override=DE_IP)), "eu")


def test_rudderstack_context_ip_and_request_ip_of_two_regions_are_held() -> None:
    event = {**segment(ip=DE_IP), "request_ip": CN_IP, "rudderId": "r-1"}
    assert_held(process(event), "conflict: ip: DE -> eu (context.ip) vs ip: CN -> cn (request_ip)")


def test_under_precedence_rudderstack_context_ip_decides_and_request_ip_is_ignored() -> None:
    event = {**segment(ip=DE_IP), "request_ip": CN_IP, "rudderId": "r-1"}
    result = process(event, with_jurisdiction(on_conflict="precedence"))
    assert_routed(result, "eu")
    assert result.decision is not None
    assert result.decision.ignored == ("ip: CN -> cn (request_ip)",)


def test_the_signals_of_a_format_keep_every_field_in_order() -> None:
    raw = orjson.dumps(snowplow(co=[residency("eu")], cx=[WEB_PAGE, residency(["cn"])], ip=DE_IP))
    payload = decode(raw)
    [event] = payload.events
    declared, upstream, ip, *_ = payload.format.signals(event.body)
    assert declared[0] == ("eu", "co.data.0.data.residency")
    assert declared[1][1] == "cx.data.1.data.residency" and not isinstance(declared[1][0], str)
    assert (upstream, ip) == ((), ((DE_IP, "ip"),))


# --- Conflict policies through the pipeline ----------------------------------------------------


def test_strictest_routes_an_eu_resident_on_a_chinese_ip_to_cn_and_exports_nothing() -> None:
    result = process(segment(residency="eu", ip=CN_IP), with_jurisdiction(on_conflict="strictest"))
    assert [output.topic for output in result.outputs] == ["events.cn"]
    assert result.decision is not None
    assert (
        result.decision.reason
        == "strictest: cn, of declared: eu (context.residency) vs ip: CN -> cn (context.ip)"
    )


def test_strictest_quarantines_regions_whose_transfers_are_incomparable() -> None:
    policy = _shipped_policy()
    policy["jurisdiction"]["on_conflict"] = "strictest"
    policy["destinations"]["ads"] = {"topic": "events.ads", "purpose": None}
    policy["regions"]["us"]["transfers"] = {"ads": "pseudonymized"}  # eu: global only, us: ads only
    pipeline = pipeline_for(parse_config(yaml.safe_dump(policy)))
    result = process(segment(residency="us", ip=DE_IP), pipeline)
    assert_held(result, "conflict: declared: us (context.residency) vs ip: DE -> eu (context.ip)")


def test_precedence_lets_a_declaration_outrank_the_ip() -> None:
    result = process(segment(residency="eu", ip=CN_IP), with_jurisdiction(on_conflict="precedence"))
    assert_routed(result, "eu")
    assert result.decision is not None and result.decision.ignored == ("ip: CN -> cn (context.ip)",)


# --- Red-team probe: evidence that hid behind another field, a batch, or an odd spelling -------

GB_IP = "81.2.69.142"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"


def process_all(payload: dict[str, Any] | bytes, pipeline: Pipeline | None = None) -> list[EventResult]:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return (pipeline or shipped()).process(raw, Source("events.ingest", 0, 0))


def assert_dead_lettered(result: EventResult, reason: str, stage: str = "decode") -> None:
    assert result.error is not None, result.decision
    assert (result.error.reason, result.error.stage) == (reason, stage)
    assert [output.topic for output in result.outputs] == ["events.dead-letter"]


def rudderstack(**context: Any) -> dict[str, Any]:
    return {**segment(**context), "rudderId": "r-1", "request_ip": CN_IP}


@pytest.mark.parametrize("first", ["10.0.0.1", "", "fe80::1", "203.0.113.9"])
def test_an_ip_field_without_a_signal_does_not_stop_the_next_one_from_being_read(first: str) -> None:
    result = process(rudderstack(residency="DE", ip=first))
    assert_held(result, "conflict: declared: DE -> eu (context.residency) vs ip: CN -> cn (request_ip)")


def test_under_strictest_two_ip_fields_of_different_regions_go_to_the_narrower() -> None:
    result = process(rudderstack(ip=GB_IP), with_jurisdiction(on_conflict="strictest"))
    assert [output.topic for output in result.outputs] == ["events.cn"]


@pytest.mark.parametrize(
    ("key", "own", "batch"),
    [
        ("residency", "DE", "CN"),
        ("ip", GB_IP, CN_IP),
        ("headers", {"cf-ipcountry": "DE"}, {"cf-ipcountry": "CN"}),
        ("location", {"country": "DE"}, {"country": "CN"}),
        ("geo", {"country": {"code": "DE"}}, {"country": {"code": "CN"}}),
    ],
)
def test_a_batch_event_whose_context_overrides_a_signal_of_the_batch_is_dead_lettered(
    key: str, own: Any, batch: Any
) -> None:
    payload = {"batch": [{**segment(**{key: own}), "messageId": "m-1"}], "context": {key: batch}}
    [result] = process_all(payload)
    assert_dead_lettered(result, f"segment event's context.{key} differs from its batch's")
    assert "CN" not in result.error.reason and CN_IP not in result.error.reason  # type: ignore[union-attr]


def test_a_batch_event_whose_context_repeats_the_batch_s_signals_takes_both_along() -> None:
    payload = {
        "batch": [segment(residency="DE", page={"path": "/a"})],
        "context": {"residency": "DE", "ip": CN_IP},
    }
    [result] = process_all(payload)
    assert_held(result, "conflict: declared: DE -> eu (context.residency) vs ip: CN -> cn (context.ip)")


def test_a_batch_signal_the_policy_reads_from_another_context_key_is_compared_too() -> None:
    policy = _shipped_policy()
    policy["jurisdiction"]["fields"] = {"segment": {"declared": ["context.home_region"]}}
    pipeline = pipeline_for(parse_config(yaml.safe_dump(policy)))
    payload = {"batch": [segment(home_region="eu")], "context": {"home_region": "cn"}}
    [result] = process_all(payload, pipeline)
    assert_dead_lettered(result, "segment event's context.home_region differs from its batch's")


@pytest.mark.parametrize("context", ["DE", ["DE"], 7])
def test_a_batch_event_whose_context_is_not_an_object_is_dead_lettered_not_given_the_batch_s(
    context: Any,
) -> None:
    event = {**segment(), "context": context}
    ok, bad = process_all({"batch": [segment(ip=GB_IP), event], "context": {"residency": "CN"}})
    assert ok.error is None
    assert_dead_lettered(bad, "segment event context is not an object")


def test_a_batch_whose_context_is_not_an_object_is_dead_lettered_whole() -> None:
    [result] = process_all({"batch": [segment(ip=GB_IP)], "context": "CN"})
    assert_dead_lettered(result, "segment batch context is not an object")


def test_a_batch_is_rudderstack_s_when_any_event_carries_its_marks_so_request_ip_is_read() -> None:
    plain = segment(ip=GB_IP)
    first, second = process_all({"batch": [plain, {**plain, "request_ip": CN_IP}]})
    assert first.format == second.format == "rudderstack"
    assert_routed(first, "eu")
    assert_held(second, "conflict: ip: GB -> eu (context.ip) vs ip: CN -> cn (request_ip)")


# Snowplow residency entities in every form and place an app (or a pipeline) may put them.

ODD_RESIDENCY_SCHEMAS = [
    "iglu:io.ResidencyGateway/residency/jsonschema/1-0-0",
    "iglu:io.residencygateway/Residency/jsonschema/1-0-0",
    "IGLU:io.residencygateway/residency/jsonschema/1-0-0",
    " iglu:io.residencygateway/residency/jsonschema/1-0-0",
    "iglu:io.residencygateway/residency/jsonschema/1-0-0\n",
    "io.residencygateway/residency/jsonschema/1-0-0",
    "iglu:io.residencygateway/residency/jsonschema/1-0",
    "iglu:io.residencygateway/residency/avro/1-0-0",
]


@pytest.mark.parametrize("schema", ODD_RESIDENCY_SCHEMAS)
def test_a_residency_entity_naming_its_schema_in_another_form_holds_the_event(schema: str) -> None:
    for event in (
        snowplow(co=[residency("eu", schema)], ip=GB_IP),
        snowplow(cx=[WEB_PAGE, residency("eu", schema)]),
    ):
        assert_held(
            process(event),
            "unreadable: declared: an entity naming the schema in another form than its iglu URI",
        )


@pytest.mark.parametrize("version", ["1-0-0", "1-2-13"])
def test_a_residency_entity_of_any_1_x_y_version_is_read(version: str) -> None:
    entity = residency("cn", f"iglu:io.residencygateway/residency/jsonschema/{version}")
    assert_routed(process(snowplow(co=[entity])), "cn")


@pytest.mark.parametrize("field", ["ue_pr", "ue_px"])
def test_a_residency_sent_as_the_self_describing_event_is_a_declaration(field: str) -> None:
    document = orjson.dumps({"schema": UNSTRUCT, "data": residency("cn")})
    value = base64.urlsafe_b64encode(document).decode() if field == "ue_px" else document.decode()
    payload = snowplow(ip=GB_IP, e="ue", **{field: value})
    assert_held(
        process(payload), f"conflict: declared: cn ({field}.data.data.residency) vs ip: GB -> eu (ip)"
    )


def test_an_enriched_tsv_residency_in_derived_contexts_or_unstruct_event_is_a_declaration() -> None:
    from tests.collectors.enriched_lines import enriched_line

    derived = orjson.dumps({"schema": CONTEXTS, "data": [residency("cn")]}).decode()
    unstruct = orjson.dumps({"schema": UNSTRUCT, "data": residency("cn")}).decode()
    for column, value in (("derived_contexts", derived), ("unstruct_event", unstruct)):
        line = enriched_line({column: value}, residency=None).encode()  # geo_country DE
        label = "derived_contexts.data.0" if column == "derived_contexts" else "unstruct_event.data"
        assert_held(process(line), f"conflict: declared: cn ({label}.data.residency) vs upstream_country: DE")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("derived_contexts_io_residencygateway_residency_1", [{"residency": "cn"}]),
        ("unstruct_event_io_residencygateway_residency_1", {"residency": "cn"}),
        ("contexts_io_residencygateway_Residency_1", [{"residency": "cn"}]),
        ("CONTEXTS_IO_RESIDENCYGATEWAY_RESIDENCY_1", [{"residency": "cn"}]),
    ],
)
def test_an_enriched_json_residency_under_any_entity_key_in_any_case_is_a_declaration(
    key: str, value: Any
) -> None:
    result = process(enriched_json(user_ipaddress=GB_IP, **{key: value}))
    label = f"{key}.0.residency" if isinstance(value, list) else f"{key}.residency"
    assert_held(result, f"conflict: declared: cn ({label}) vs ip: GB -> eu (user_ipaddress)")


def test_an_enriched_json_residency_of_another_major_under_derived_contexts_holds_the_event() -> None:
    event = enriched_json(
        derived_contexts_io_residencygateway_residency_2=[{"residency": "eu"}], user_ipaddress=GB_IP
    )
    assert_held(process(event), "unreadable: declared: an entity of the schema in a major version")


# Declarations under a key of another case, and present nulls.


def test_a_declaration_under_a_key_of_another_case_is_read() -> None:
    assert_held(
        process(segment(Residency="CN", ip=GB_IP)),
        "conflict: declared: CN -> cn (context.Residency) vs ip: GB -> eu (context.ip)",
    )
    result = process(ga4(user_properties={"Residency": {"value": "CN"}}, ip_override=GB_IP))
    assert_held(result, "conflict: declared: CN -> cn (user_properties.Residency.value) vs ip: GB -> eu")
    assert_routed(process(segment(RESIDENCY="gb")), "eu")


def test_two_spellings_of_the_declared_key_that_disagree_are_a_conflict() -> None:
    assert_held(
        process(segment(residency="DE", Residency="CN")),
        "conflict: declared: DE -> eu (context.residency) vs declared: CN -> cn (context.Residency)",
    )
    result = process(ga4(user_properties={"residency": {"value": "eu"}, "RESIDENCY": {"value": "cn"}}))
    assert_held(result, "conflict: declared: eu (user_properties.residency.value) vs declared: cn")
    assert_routed(process(segment(residency="DE", Residency="fr")), "eu")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (segment(residency=None, ip=GB_IP), "context.residency"),
        (segment(Residency=None, ip=GB_IP), "context.Residency"),
        (rudderstack(residency=None), "context.residency"),
        (
            enriched_json(contexts_io_residencygateway_residency_1=None),
            "contexts_io_residencygateway_residency_1",
        ),
        (snowplow(co=[residency(None)], ip=GB_IP), "co.data.0.data.residency"),
    ],
    ids=["segment", "segment-other-case", "rudderstack", "enriched-json", "snowplow"],
)
def test_a_declaration_that_is_present_as_null_holds_the_event(payload: dict[str, Any], field: str) -> None:
    assert_held(process(payload), "unreadable: declared: ")
    assert field in process(payload).decision.reason  # type: ignore[union-attr]


def test_a_ga4_residency_property_that_is_null_holds_the_event_but_value_null_clears_it() -> None:
    assert_held(
        process(ga4(user_properties={"residency": None}, ip_override=GB_IP)),
        "unreadable: declared: user_properties.residency is JSON null, not an object",
    )
    assert_routed(process(ga4(user_properties={"Residency": {"value": None}}, ip_override=GB_IP)), "eu")


def test_a_generic_format_declaration_present_as_null_is_unreadable() -> None:
    from streams.formats.base import PersonalFields, SignalFields, Unreadable
    from streams.formats.generic import GenericJsonFormat

    generic = GenericJsonFormat(SignalFields(declared=(("user", "region"),)), PersonalFields())
    assert generic.signals({"user": {"region": None}})[0] == (
        (Unreadable("JSON null, not a string"), "user.region"),
    )
    assert generic.signals({"user": None})[0] == ()


# The device's position and Jitsu's geolocation are upstream countries.


@pytest.mark.parametrize(
    ("context", "field"),
    [
        ({"location": {"country": "CN"}}, "context.location.country"),
        ({"geo": {"country": {"code": "CN"}}}, "context.geo.country.code"),
    ],
)
def test_a_segment_or_rudderstack_location_country_against_the_ip_is_a_conflict(
    context: dict[str, Any], field: str
) -> None:
    reason = f"conflict: upstream_country: CN -> cn ({field}) vs ip: GB -> eu (context.ip)"
    assert_held(process(segment(ip=GB_IP, **context)), reason)
    rudder = {**segment(ip=GB_IP, **context), "rudderId": "r-1"}
    assert_held(process(rudder), reason)


# Envelopes of a major version the gateway doesn't know.


def test_a_payload_data_body_of_another_major_version_is_dead_lettered() -> None:
    body = snowplow(ip=GB_IP)
    body["schema"] = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/2-0-0"
    [result] = process_all(body)
    assert_dead_lettered(result, "snowplow payload_data schema version 2-0-0 is not one the gateway reads")


@pytest.mark.parametrize("field", ["co", "cx"])
def test_a_contexts_envelope_of_another_major_version_dead_letters_the_event(field: str) -> None:
    document = orjson.dumps({"schema": CONTEXTS.replace("1-0-1", "2-0-0"), "data": [residency("eu")]})
    value = base64.urlsafe_b64encode(document).decode() if field == "cx" else document.decode()
    payload = snowplow(ip=GB_IP)
    payload["data"][0][field] = value  # as sent, not wrapped in a 1-0-1 envelope by the helper
    [result] = process_all(payload)
    reason = f"snowplow {field} contexts schema version 2-0-0 is not one the gateway reads"
    assert_dead_lettered(result, reason, "classify")


def test_an_unstruct_event_envelope_of_another_major_version_dead_letters_the_event() -> None:
    document = {"schema": UNSTRUCT.replace("1-0-0", "3-1-0"), "data": residency("eu")}
    [result] = process_all(snowplow(ip=GB_IP, e="ue", ue_pr=orjson.dumps(document).decode()))
    reason = "snowplow ue_pr unstruct_event schema version 3-1-0 is not one the gateway reads"
    assert_dead_lettered(result, reason, "classify")


# IPv6 addresses that carry an IPv4 address are placed by it.


@pytest.mark.parametrize("ip", ["64:ff9b::7272:7272", "64:ff9b::114.114.114.114", "2002:7272:7272::1"])
def test_a_nat64_or_6to4_address_is_placed_by_the_ipv4_it_carries(ip: str) -> None:
    assert_held(
        process(segment(residency="DE", ip=ip)), "conflict: declared: DE -> eu (context.residency) vs ip: CN"
    )


@pytest.mark.parametrize(("written", "country"), [("United States", "US"), ("germany", "DE"), ("GB", "GB")])
def test_a_device_location_country_is_read_as_a_code_or_as_its_iso_name(written: str, country: str) -> None:
    from streams.config.countries import country_named

    assert (country_named(written) or written) == country


def test_a_device_location_country_that_is_no_iso_name_holds_the_event() -> None:
    from streams.config.countries import country_named

    assert country_named("USA") is None and country_named("Deutschland") is None
