"""Reading the consent an event carries, per collector, and gating a destination's purpose on it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from snowplow_analytics_sdk.event_transformer import transform
from snowplow_tracker import PageView, SelfDescribing, SelfDescribingJson

import streams.formats.snowplow as consent_module
from streams.config import DEFAULT_PURPOSES
from streams.formats.base import CollectorFormat
from streams.formats.consent import Consent
from streams.formats.registry import BUILT_IN_FORMATS, FORMATS_BY_NAME
from streams.formats.snowplow_enriched import ENRICHED_FIELDS
from streams.route.consent import ConsentGate
from tests.collectors.capture import (
    ga4_body,
    rudderstack_records,
    segment_records,
    snowplow_get_records,
    snowplow_post_records,
    spec_call,
)


def consent_of(format_name: str, event: dict[str, Any]) -> Consent | None:
    """The consent an event carries, read by the format of that name (as the route stage does)."""
    format_class = FORMATS_BY_NAME.get(format_name)
    if format_class is None:
        raise ValueError(f"no consent reader for format {format_name!r}")
    return format_class.consent(event)


VENDOR = "iglu:com.snowplowanalytics.snowplow"
PREFERENCES = f"{VENDOR}/consent_preferences/jsonschema/1-0-0"
GRANTED_EVENT = f"{VENDOR}/consent_granted/jsonschema/1-0-0"
WITHDRAWN_EVENT = f"{VENDOR}/consent_withdrawn/jsonschema/1-0-0"
DOCUMENT = f"{VENDOR}/consent_document/jsonschema/1-0-0"
CONTEXTS = f"{VENDOR}/contexts/jsonschema/1-0-0"
UNSTRUCT = f"{VENDOR}/unstruct_event/jsonschema/1-0-1"
CUSTOMER = SelfDescribingJson("iglu:com.acme/customer/jsonschema/1-0-0", {"tier": "gold"})

DENY_WHEN_ABSENT = ConsentGate(DEFAULT_PURPOSES, "deny")
ALLOW_WHEN_ABSENT = ConsentGate(DEFAULT_PURPOSES, "allow")
NOTHING = Consent(frozenset(), frozenset())


# --- Events as each collector writes them ---------------------------------------------------------


def only_event(records: list[bytes]) -> dict[str, Any]:
    [record] = records
    document = json.loads(record)
    if "batch" in document:
        [event] = document["batch"]
        return dict(event)
    return dict(document)


def segment(context: dict[str, Any]) -> dict[str, Any]:
    """A track call as the official Segment SDK sends it, with `context`."""
    return only_event(segment_records([spec_call("track", context=context)]))


def rudderstack(context: dict[str, Any]) -> dict[str, Any]:
    return only_event(rudderstack_records([spec_call("track", context=context)]))


def ga4(**body: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ga4_body())
    document.update(body)
    return document


def preferences(event_type: str, scopes: Any) -> dict[str, Any]:
    """The data of a consent_preferences event or entity, as the Enhanced Consent plugin writes it."""
    return {
        "eventType": event_type,
        "basisForProcessing": "consent",
        "consentUrl": "https://shop.example/privacy",
        "consentVersion": "1.0",
        "consentScopes": scopes,
        "domainsApplied": ["shop.example"],
        "gdprApplies": True,
    }


def snowplow(entities: Sequence[dict[str, Any]] = (), *, encode_base64: bool = True) -> dict[str, Any]:
    """A page view from the official Python tracker with `entities` attached, as POSTed."""
    context = [CUSTOMER, *(SelfDescribingJson(e["schema"], e["data"]) for e in entities)]
    records = snowplow_post_records(
        [PageView(page_url="https://shop.example/", context=context)], encode_base64=encode_base64
    )
    [event] = json.loads(records[0])["data"]
    return dict(event)


def snowplow_get(entities: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    context = [CUSTOMER, *(SelfDescribingJson(e["schema"], e["data"]) for e in entities)]
    return only_event(snowplow_get_records([PageView(page_url="https://shop.example/", context=context)]))


def snowplow_consent_event(
    schema: str, data: dict[str, Any], entities: Sequence[dict[str, Any]] = (), *, encode_base64: bool = True
) -> dict[str, Any]:
    """A self-describing consent event from the official Python tracker (it has no consent helper)."""
    context = [CUSTOMER, *(SelfDescribingJson(e["schema"], e["data"]) for e in entities)]
    event = SelfDescribing(event_json=SelfDescribingJson(schema, data), context=context)
    [record] = snowplow_post_records([event], encode_base64=encode_base64)
    [payload] = json.loads(record)["data"]
    return dict(payload)


def entity(schema: str, data: Any) -> dict[str, Any]:
    return {"schema": schema, "data": data}


def enriched_tsv(
    entities: Sequence[dict[str, Any]] = (),
    *,
    derived: Sequence[dict[str, Any]] = (),
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body the enriched TSV format gives an event: its non-empty fields by name."""
    fields = {
        "app_id": "shop",
        "platform": "web",
        "collector_tstamp": "2026-11-28 12:00:00.000",
        "event": "page_view",
        "event_id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb",
        "v_etl": "snowplow-enrich-kafka-5.1.0",
    }
    if entities:
        fields["contexts"] = orjson.dumps(entity(CONTEXTS, list(entities))).decode()
    if derived:
        fields["derived_contexts"] = orjson.dumps(entity(CONTEXTS, list(derived))).decode()
    if event is not None:
        name = event["schema"].split("/")[1]
        fields.update(
            event="unstruct",
            event_vendor="com.snowplowanalytics.snowplow",
            event_name=name,
            unstruct_event=orjson.dumps(entity(UNSTRUCT, event)).decode(),
        )
    return fields


def enriched_json(
    entities: Sequence[dict[str, Any]] = (),
    *,
    derived: Sequence[dict[str, Any]] = (),
    event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON the official Snowplow Analytics SDK makes of the same enriched line."""
    fields = enriched_tsv(entities, derived=derived, event=event)
    document: dict[str, Any] = transform("\t".join(fields.get(name, "") for name in ENRICHED_FIELDS))
    return document


# Each format's event that grants the analytics-like category and denies the advertising-like one
# (Snowplow denies by leaving a scope out of an allow_selected choice).
GRANTS_ANALYTICS: dict[str, Callable[[], dict[str, Any]]] = {
    "segment": lambda: segment(
        {"consent": {"categoryPreferences": {"Analytics": True, "Advertising": False}}}
    ),
    "rudderstack": lambda: rudderstack(
        {"consentManagement": {"allowedConsentIds": ["analytics"], "deniedConsentIds": ["marketing"]}}
    ),
    "snowplow": lambda: snowplow([entity(PREFERENCES, preferences("allow_selected", ["analytics"]))]),
    "snowplow_plain": lambda: snowplow(
        [entity(PREFERENCES, preferences("allow_selected", ["analytics"]))], encode_base64=False
    ),
    "snowplow_get": lambda: snowplow_get([entity(PREFERENCES, preferences("allow_selected", ["analytics"]))]),
    "snowplow_enriched_tsv": lambda: enriched_tsv(
        [entity(PREFERENCES, preferences("allow_selected", ["analytics"]))]
    ),
    "snowplow_enriched_json": lambda: enriched_json(
        [entity(PREFERENCES, preferences("allow_selected", ["analytics"]))]
    ),
}
# Each format's event that grants advertising.
GRANTS_ADVERTISING: dict[str, Callable[[], dict[str, Any]]] = {
    "segment": lambda: segment({"consent": {"categoryPreferences": {"Advertising": True}}}),
    "rudderstack": lambda: rudderstack({"consentManagement": {"allowedConsentIds": ["marketing"]}}),
    "ga4": lambda: ga4(consent={"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"}),
    "snowplow": lambda: snowplow([entity(PREFERENCES, preferences("allow_all", ["necessary", "marketing"]))]),
    "snowplow_get": lambda: snowplow_get([entity(PREFERENCES, preferences("allow_all", ["marketing"]))]),
    "snowplow_enriched_tsv": lambda: enriched_tsv(
        [entity(PREFERENCES, preferences("allow_all", ["marketing"]))]
    ),
    "snowplow_enriched_json": lambda: enriched_json(
        [entity(PREFERENCES, preferences("allow_all", ["marketing"]))]
    ),
}
# Each format's event with no consent at all.
NO_CONSENT: dict[str, Callable[[], dict[str, Any]]] = {
    "segment": lambda: segment({"ip": "81.2.69.142"}),
    "rudderstack": lambda: rudderstack({}),
    "ga4": lambda: ga4(),
    "snowplow": lambda: snowplow(),
    "snowplow_plain": lambda: snowplow(encode_base64=False),
    "snowplow_get": lambda: snowplow_get(),
    "snowplow_enriched_tsv": lambda: enriched_tsv([entity("iglu:com.acme/customer/jsonschema/1-0-0", {})]),
    "snowplow_enriched_json": lambda: enriched_json([entity("iglu:com.acme/customer/jsonschema/1-0-0", {})]),
    "generic": lambda: {"event": "signup", "consent": {"categoryPreferences": {"Analytics": True}}},
}


def format_of(case: str) -> str:
    return "snowplow" if case == "snowplow_plain" else case


# --- What each collector's consent reads as ------------------------------------------------------


@pytest.mark.parametrize("case", list(GRANTS_ANALYTICS))
def test_a_granted_category_grants_its_purpose_and_a_left_out_or_denied_one_does_not(case: str) -> None:
    consent = consent_of(format_of(case), GRANTS_ANALYTICS[case]())
    assert consent is not None and "analytics" in consent.granted
    assert DENY_WHEN_ABSENT.allows("analytics", format_of(case), consent)
    assert not ALLOW_WHEN_ABSENT.allows("advertising", format_of(case), consent)


@pytest.mark.parametrize("case", list(GRANTS_ADVERTISING))
def test_advertising_consent_opens_advertising_destinations(case: str) -> None:
    consent = consent_of(case, GRANTS_ADVERTISING[case]())
    assert DENY_WHEN_ABSENT.allows("advertising", case, consent)


def test_each_collector_s_consent_is_read_lower_cased_as_written() -> None:
    assert consent_of("segment", GRANTS_ANALYTICS["segment"]()) == Consent(
        frozenset({"analytics"}), frozenset({"advertising"})
    )
    assert consent_of("rudderstack", GRANTS_ANALYTICS["rudderstack"]()) == Consent(
        frozenset({"analytics"}), frozenset({"marketing"})
    )
    assert consent_of(
        "ga4", ga4(consent={"ad_user_data": "GRANTED", "ad_personalization": "DENIED"})
    ) == Consent(frozenset({"ad_user_data"}), frozenset({"ad_personalization"}))
    assert consent_of("snowplow", GRANTS_ANALYTICS["snowplow"]()) == Consent(
        frozenset({"analytics"}), frozenset()
    )


@pytest.mark.parametrize("case", list(NO_CONSENT))
@pytest.mark.parametrize("when_absent", ["allow", "deny"])
def test_an_event_without_consent_leaves_the_decision_to_when_absent(case: str, when_absent: str) -> None:
    consent = consent_of(format_of(case), NO_CONSENT[case]())
    assert consent is None
    gate = ConsentGate({"advertising": {format_of(case): ["advertising"]}}, when_absent)  # type: ignore[arg-type]
    assert gate.allows("advertising", format_of(case), consent) is (when_absent == "allow")


def test_an_empty_consent_object_is_no_consent_but_empty_preferences_grant_nothing() -> None:
    # Segment's own rules: an empty consent object flows everywhere; empty categoryPreferences
    # count as false for every category.
    assert consent_of("segment", segment({"consent": {}})) is None
    assert consent_of("segment", segment({"consent": {"categoryPreferences": {}}})) == NOTHING
    assert consent_of("rudderstack", rudderstack({"consentManagement": {"provider": "custom"}})) is None
    assert consent_of("ga4", ga4(consent={})) is None


CONTRADICTIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "segment: the same category true and false": (
        "segment",
        "analytics",
        {"context": {"consent": {"categoryPreferences": {"Analytics": True, "analytics": False}}}},
    ),
    "rudderstack: the same id allowed and denied": (
        "rudderstack",
        "analytics",
        {
            "context": {
                "consentManagement": {"allowedConsentIds": ["analytics"], "deniedConsentIds": ["Analytics"]}
            }
        },
    ),
    "ga4: one of a purpose's two fields granted, the other denied": (
        "ga4",
        "advertising",
        ga4(consent={"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}),
    ),
    "snowplow: two consent entities that disagree": (
        "snowplow",
        "advertising",
        {
            "e": "pv",
            "co": orjson.dumps(
                entity(
                    CONTEXTS,
                    [
                        entity(PREFERENCES, preferences("allow_all", ["Marketing"])),
                        entity(PREFERENCES, preferences("withdrawn", ["marketing"])),
                    ],
                )
            ).decode(),
        },
    ),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_a_contradiction_fails_closed(case: str) -> None:
    format_name, purpose, event = CONTRADICTIONS[case]
    consent = consent_of(format_name, event)
    assert consent is not None and consent.granted
    assert not ALLOW_WHEN_ABSENT.allows(purpose, format_name, consent)


@pytest.mark.parametrize(
    ("format_name", "event"),
    [
        ("segment", {"context": {"consent": {"categoryPreferences": {"ANALYTICS": True}}}}),
        ("rudderstack", {"context": {"consentManagement": {"allowedConsentIds": ["AnAlYtIcS"]}}}),
        (
            "snowplow",
            {
                "e": "pv",
                "co": orjson.dumps(
                    entity(CONTEXTS, [entity(PREFERENCES, preferences("allow_all", ["Analytics"]))])
                ).decode(),
            },
        ),
    ],
)
def test_category_names_match_whatever_their_case(format_name: str, event: dict[str, Any]) -> None:
    gate = ConsentGate({"analytics": {format_name: ["aNaLyTiCs"]}}, "deny")
    assert gate.allows("analytics", format_name, consent_of(format_name, event))


# --- Malformed consent never grants ---------------------------------------------------------------

MALFORMED: list[tuple[str, dict[str, Any]]] = [
    ("segment", {"context": {"consent": "Analytics"}}),
    ("segment", {"context": {"consent": {"categoryPreferences": "Analytics"}}}),
    ("segment", {"context": {"consent": {"categoryPreferences": ["Analytics"]}}}),
    ("segment", {"context": {"consent": {"categoryPreferences": {"Analytics": "true"}}}}),
    ("segment", {"context": {"consent": {"categoryPreferences": {"Analytics": 1}}}}),
    ("segment", {"context": {"consent": {"categoryPreferences": {"Analytics": None}}}}),
    ("rudderstack", {"context": {"consentManagement": "analytics"}}),
    ("rudderstack", {"context": {"consentManagement": {"allowedConsentIds": "analytics"}}}),
    ("rudderstack", {"context": {"consentManagement": {"allowedConsentIds": {"analytics": "Analytics"}}}}),
    # A denial list that can't be read might be hiding this very category.
    (
        "rudderstack",
        {"context": {"consentManagement": {"allowedConsentIds": ["analytics"], "deniedConsentIds": "C0004"}}},
    ),
    (
        "rudderstack",
        {"context": {"consentManagement": {"allowedConsentIds": ["analytics"], "deniedConsentIds": [4]}}},
    ),
    ("ga4", {"client_id": "1", "events": [], "consent": "GRANTED"}),
    ("ga4", {"client_id": "1", "events": [], "consent": {"ad_user_data": "granted"}}),
    ("ga4", {"client_id": "1", "events": [], "consent": {"ad_user_data": True}}),
    (
        "snowplow",
        {"e": "pv", "co": orjson.dumps(entity(CONTEXTS, [entity(PREFERENCES, "analytics")])).decode()},
    ),
    (
        "snowplow",
        {
            "e": "pv",
            "co": orjson.dumps(
                entity(CONTEXTS, [entity(PREFERENCES, preferences("allow_all", "analytics"))])
            ).decode(),
        },
    ),
    (
        "snowplow",
        {
            "e": "pv",
            "co": orjson.dumps(
                entity(CONTEXTS, [entity(PREFERENCES, preferences("allow_everything", ["analytics"]))])
            ).decode(),
        },
    ),
    ("snowplow", {"e": "pv", "co": '{"data": [{"schema": "consent_preferences", "data": '}),
    ("snowplow", {"e": "pv", "cx": 42}),
    ("snowplow_enriched_tsv", {"contexts": '{"schema": "x", "data": [{"schema": "iglu:consent_preferences'}),
    (
        "snowplow_enriched_json",
        {"contexts_com_snowplowanalytics_snowplow_consent_preferences_1": "analytics"},
    ),
    (
        "snowplow_enriched_json",
        {"unstruct_event_com_snowplowanalytics_snowplow_consent_preferences_1": ["allow_all"]},
    ),
]


@pytest.mark.parametrize(("format_name", "event"), MALFORMED)
def test_malformed_consent_never_grants_even_when_absent_consent_would_be_allowed(
    format_name: str, event: dict[str, Any]
) -> None:
    consent = consent_of(format_name, event)
    assert consent is not None, "malformed consent must not read as absent: when_absent could allow it"
    gate = ConsentGate({"p": {format_name: ["analytics", "ad_user_data", "advertising"]}}, "allow")
    assert not gate.allows("p", format_name, consent)


def test_ga4_obsolete_non_personalized_ads_flag_denies_ad_personalization() -> None:
    assert consent_of("ga4", ga4(non_personalized_ads=True)) == Consent(
        frozenset(), frozenset({"ad_personalization"})
    )
    assert consent_of("ga4", ga4(non_personalized_ads=False)) is None
    assert not DENY_WHEN_ABSENT.allows(
        "advertising", "ga4", consent_of("ga4", ga4(non_personalized_ads=True))
    )


def test_ga4_cannot_express_analytics_consent_so_analytics_is_ungated_there() -> None:
    denied_everything = ga4(consent={"ad_user_data": "DENIED", "ad_personalization": "DENIED"})
    assert DENY_WHEN_ABSENT.allows("analytics", "ga4", consent_of("ga4", denied_everything))
    assert DENY_WHEN_ABSENT.allows("analytics", "ga4", None)


# --- Snowplow's consent events ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("allow_all", Consent(frozenset({"necessary", "marketing"}), frozenset())),
        ("allow_selected", Consent(frozenset({"necessary", "marketing"}), frozenset())),
        ("implicit_consent", Consent(frozenset({"necessary", "marketing"}), frozenset())),
        ("withdrawn", Consent(frozenset(), frozenset({"necessary", "marketing"}))),
        ("expired", Consent(frozenset(), frozenset({"necessary", "marketing"}))),
        # deny_all lists what stays accepted; pending hasn't been decided: neither grants.
        ("deny_all", NOTHING),
        ("pending", NOTHING),
    ],
)
@pytest.mark.parametrize("encode_base64", [True, False])
def test_the_enhanced_consent_event_carries_its_own_consent(
    event_type: str, expected: Consent, encode_base64: bool
) -> None:
    event = snowplow_consent_event(
        PREFERENCES, preferences(event_type, ["necessary", "Marketing"]), encode_base64=encode_base64
    )
    assert consent_of("snowplow", event) == expected


def test_the_consent_event_itself_outranks_a_stale_entity_attached_to_it() -> None:
    stale = entity(PREFERENCES, preferences("allow_all", ["marketing"]))
    event = snowplow_consent_event(PREFERENCES, preferences("withdrawn", ["marketing"]), [stale])
    assert not DENY_WHEN_ABSENT.allows("advertising", "snowplow", consent_of("snowplow", event))


@pytest.mark.parametrize("encode_base64", [True, False])
def test_the_basic_consent_events_grant_and_withdraw_their_documents(encode_base64: bool) -> None:
    documents = [
        entity(DOCUMENT, {"id": "Marketing-Policy", "version": "2"}),
        entity(DOCUMENT, {"id": "cookies", "version": "1"}),
    ]
    granted = snowplow_consent_event(
        GRANTED_EVENT, {"expiry": "2027-01-01T00:00:00Z"}, documents, encode_base64=encode_base64
    )
    assert consent_of("snowplow", granted) == Consent(frozenset({"marketing-policy", "cookies"}), frozenset())
    withdrawn = snowplow_consent_event(
        WITHDRAWN_EVENT, {"all": False}, documents[:1], encode_base64=encode_base64
    )
    assert consent_of("snowplow", withdrawn) == Consent(frozenset(), frozenset({"marketing-policy"}))
    everything = snowplow_consent_event(WITHDRAWN_EVENT, {"all": True}, encode_base64=encode_base64)
    assert consent_of("snowplow", everything) == NOTHING


def test_a_self_describing_event_that_is_not_about_consent_still_reads_the_entities() -> None:
    checkout = SelfDescribingJson("iglu:com.acme/checkout/jsonschema/1-0-0", {"consent_given": True})
    context = [SelfDescribingJson(PREFERENCES, preferences("allow_all", ["analytics"]))]
    [record] = snowplow_post_records([SelfDescribing(event_json=checkout, context=context)])
    [event] = json.loads(record)["data"]
    assert consent_of("snowplow", event) == Consent(frozenset({"analytics"}), frozenset())


def test_contexts_without_a_consent_entity_are_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hot path: decoding cx costs microseconds, so a substring test must rule it out first.
    def fail(event: dict[str, Any]) -> list[Any]:
        raise AssertionError("contexts decoded")

    monkeypatch.setattr(consent_module, "context_entities", fail)
    monkeypatch.setattr(consent_module, "self_describing_event", fail)
    checkout = SelfDescribingJson("iglu:com.acme/checkout/jsonschema/1-0-0", {"step": 2})
    [record] = snowplow_post_records([SelfDescribing(event_json=checkout, context=[CUSTOMER])])
    [sde] = json.loads(record)["data"]
    for event in (
        NO_CONSENT["snowplow"](),
        NO_CONSENT["snowplow_plain"](),
        NO_CONSENT["snowplow_get"](),
        sde,
    ):
        assert consent_of("snowplow", event) is None


@given(prefix=st.binary(max_size=8), suffix=st.binary(max_size=8))
def test_a_consent_schema_is_spotted_inside_base64_at_any_alignment(prefix: bytes, suffix: bytes) -> None:
    for mark, needles in (
        ("consent_preferences", consent_module._ENTITY_MARKS_B64),
        ("consent_", consent_module._EVENT_MARKS_B64),
    ):
        raw = prefix + mark.encode() + suffix
        for encoded in (base64.urlsafe_b64encode(raw).decode().rstrip("="), base64.b64encode(raw).decode()):
            assert any(needle in encoded for needle in needles)


# --- Enriched events --------------------------------------------------------------------------------

ENRICHED_CASES: list[tuple[str, dict[str, Any], Consent]] = [
    (
        "in contexts",
        {"entities": [entity(PREFERENCES, preferences("allow_selected", ["Analytics"]))]},
        Consent(frozenset({"analytics"}), frozenset()),
    ),
    (
        "in derived_contexts",
        {"derived": [entity(PREFERENCES, preferences("allow_all", ["marketing"]))]},
        Consent(frozenset({"marketing"}), frozenset()),
    ),
    (
        "the consent event",
        {"event": entity(PREFERENCES, preferences("expired", ["marketing"]))},
        Consent(frozenset(), frozenset({"marketing"})),
    ),
    (
        "a basic consent event",
        {"event": entity(GRANTED_EVENT, {}), "entities": [entity(DOCUMENT, {"id": "terms", "version": "3"})]},
        Consent(frozenset({"terms"}), frozenset()),
    ),
    ("no consent", {"entities": [entity("iglu:com.acme/customer/jsonschema/1-0-0", {"tier": "gold"})]}, None),  # type: ignore[list-item]
]


@pytest.mark.parametrize(
    ("where", "parts", "expected"), ENRICHED_CASES, ids=[case[0] for case in ENRICHED_CASES]
)
def test_both_enriched_forms_of_an_event_read_the_same_consent(
    where: str, parts: dict[str, Any], expected: Consent | None
) -> None:
    assert consent_of("snowplow_enriched_tsv", enriched_tsv(**parts)) == expected
    assert consent_of("snowplow_enriched_json", enriched_json(**parts)) == expected


# --- The gate ---------------------------------------------------------------------------------------


def test_a_format_with_no_categories_for_a_purpose_is_ungated_whatever_the_consent() -> None:
    gate = ConsentGate({"analytics": {"segment": ["Analytics"], "ga4": []}}, "deny")
    assert gate.allows("analytics", "ga4", None)
    assert gate.allows("analytics", "snowplow", NOTHING)
    assert not gate.allows("analytics", "segment", None)


def test_a_purpose_the_gate_does_not_know_is_refused() -> None:
    assert not ALLOW_WHEN_ABSENT.allows("advertisng", "segment", None)


def test_a_category_mentioned_nowhere_in_the_consent_is_not_granted() -> None:
    consent = Consent(frozenset({"functional"}), frozenset())
    assert not ALLOW_WHEN_ABSENT.allows("analytics", "segment", consent)


def test_gate_settings_report_every_mistake_with_its_path() -> None:
    # What a hand-written YAML file might hold, past any type checker.
    purposes: Any = {"analytics": {"segmnt": ["Analytics"], "ga4": "ad_user_data", "rudderstack": ["", 3]}}
    when_absent: Any = "maybe"
    with pytest.raises(ValueError) as raised:
        ConsentGate(purposes, when_absent)
    message = str(raised.value)
    for problem in (
        "when_absent: 'maybe' must be 'allow' or 'deny'",
        "purposes.analytics.segmnt: 'segmnt' is not a collector format",
        "purposes.analytics.ga4: must be a list of category names (got str)",
        "purposes.analytics.rudderstack[0]: '' is not a category name",
        "purposes.analytics.rudderstack[1]: 3 is not a category name",
    ):
        assert problem in message


def test_the_default_purposes_name_only_known_formats_and_gate_every_collector_that_can_express_them() -> (
    None
):
    ConsentGate(DEFAULT_PURPOSES, "deny")  # valid
    for purpose, formats in DEFAULT_PURPOSES.items():
        gated = {name for name, categories in formats.items() if categories}
        expected = {f.name for f in BUILT_IN_FORMATS} - ({"ga4"} if purpose == "analytics" else set())
        assert gated == expected, purpose


def test_every_built_in_format_reads_its_own_consent_and_only_generic_json_has_none() -> None:
    # A format added to the registry without a consent reader would let every event through a gate.
    readers = {name: format_class.consent for name, format_class in FORMATS_BY_NAME.items()}
    assert {name for name, read in readers.items() if read is CollectorFormat.consent} == {"generic"}
    for collector in BUILT_IN_FORMATS:
        collector.consent({})  # an empty event carries none, and reading it raises nothing
    assert consent_of("generic", NO_CONSENT["generic"]()) is None


def test_a_remembered_grant_is_never_reused_for_a_value_that_only_looks_equal() -> None:
    # Readers intern what they read; Python says 1 == True, the JSON key must not.
    granted = {"context": {"consent": {"categoryPreferences": {"Analytics": True}}}}
    lookalike = {"context": {"consent": {"categoryPreferences": {"Analytics": 1}}}}
    assert DENY_WHEN_ABSENT.allows("analytics", "segment", consent_of("segment", granted))
    assert not DENY_WHEN_ABSENT.allows("analytics", "segment", consent_of("segment", lookalike))
