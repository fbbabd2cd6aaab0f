"""Snowplow enriched events: the TSV line enrich writes, and the JSON the official SDK makes of it."""

from __future__ import annotations

import orjson
import pytest
from snowplow_analytics_sdk.event_transformer import transform

from streams.config import FieldRules
from streams.formats.base import CollectorFormat, PayloadError
from streams.formats.ga4 import Ga4Format
from streams.formats.segment import RudderStackFormat, SegmentFormat
from streams.formats.snowplow import SnowplowFormat, SnowplowGetFormat
from streams.formats.snowplow_enriched import (
    ENRICHED_FIELDS,
    SnowplowEnrichedJsonFormat,
    SnowplowEnrichedTsvFormat,
)
from streams.keys.ring import KeyRing, PseudonymKey
from streams.subjects.store import InMemorySubjectKeys
from streams.transform.export import ExportCopier
from streams.transform.personal import PersonalTransforms
from streams.transform.value_scan import ValueScanner
from tests.collectors.enriched_lines import (
    BASE_FIELDS,
    CANARY_EMAIL,
    CANARY_IP,
    CONTEXTS,
    DECLARED_LABEL,
    RESIDENCY,
    SECRET_PATH,
    UA_PARSER,
    UNSTRUCT,
    enriched_line,
)

TSV = SnowplowEnrichedTsvFormat()
JSON = SnowplowEnrichedJsonFormat()


# Personal values that must never reach an error message (it goes to a topic outside the region).
def pseudonymizing(collector: CollectorFormat) -> ExportCopier:
    """The default policy's global-copy rules under a fixed eu key."""
    keys = KeyRing([PseudonymKey("eu", 1, bytes(range(32)))])
    return ExportCopier(
        PersonalTransforms(FieldRules(), "eu", keys, InMemorySubjectKeys()), {}, ValueScanner()
    )


def assert_quotes_nothing(error: PayloadError) -> None:
    for text in (str(error), error.reason):
        for canary in (CANARY_EMAIL, CANARY_IP, SECRET_PATH, "Berlin"):
            assert canary not in text


def test_the_field_list_is_the_canonical_event_model() -> None:
    assert len(ENRICHED_FIELDS) == len(set(ENRICHED_FIELDS)) == 131
    assert ENRICHED_FIELDS[:7] == (
        "app_id",
        "platform",
        "etl_tstamp",
        "collector_tstamp",
        "dvce_created_tstamp",
        "event",
        "event_id",
    )
    assert ENRICHED_FIELDS[-1] == "true_tstamp"


def test_tsv_is_claimed_by_its_field_count_and_only_as_text() -> None:
    line = enriched_line().encode()
    assert TSV.matches_text(line)
    assert TSV.matches_text(line + b"\n")
    assert TSV.matches_text(line + b"\r\n")
    assert not TSV.reads_json
    assert not TSV.matches({"event_id": "x"})
    assert not TSV.matches_text(b"{" + line)


@pytest.mark.parametrize("change", ["drop the last field", "add a field"])
def test_a_line_with_another_field_count_is_not_claimed(change: str) -> None:
    line = enriched_line()
    line = line.rsplit("\t", 1)[0] if change == "drop the last field" else line + "\textra"
    assert not TSV.matches_text(line.encode())


def test_split_gives_one_event_of_the_non_empty_fields_with_the_exact_bytes() -> None:
    raw = enriched_line().encode() + b"\n"
    [event] = TSV.split({}, raw)
    assert event.error is None and event.index == 0
    assert event.raw == raw
    body = event.body
    assert body["event_id"] == "c6ef3124-b53a-4b13-a233-0088f79dcbcb"
    assert body["collector_tstamp"] == "2026-11-28 12:00:00.000"
    assert body["geo_country"] == "DE" and body["user_ipaddress"] == CANARY_IP
    assert "txn_id" not in body and "true_tstamp" not in body  # empty columns are absent
    assert set(body) == set(BASE_FIELDS) | {"contexts"}
    assert TSV.signals(body)[2] == ((CANARY_IP, "user_ipaddress"),)


def test_encode_writes_back_the_identical_line() -> None:
    line = enriched_line().encode()
    [event] = TSV.split({}, line + b"\n")
    assert TSV.encode(event.body, {}) == line


def test_encode_turns_tabs_and_line_breaks_in_values_into_spaces() -> None:
    [event] = TSV.split({}, enriched_line().encode())
    body = {**event.body, "page_title": "Meine\tBestellungen\nSeite\r2", "user_id": None}
    written = TSV.encode(body, {})
    assert TSV.matches_text(written)
    [again] = TSV.split({}, written)
    assert again.body["page_title"] == "Meine Bestellungen Seite 2"
    assert "user_id" not in again.body
    assert again.body["page_urlpath"] == SECRET_PATH  # the columns after it did not shift


def test_tsv_signals_read_the_declared_entity_and_the_enriched_fields() -> None:
    [event] = TSV.split({}, enriched_line().encode())
    assert TSV.signals(event.body) == (
        (("eu", DECLARED_LABEL),),
        (("DE", "geo_country"),),
        ((CANARY_IP, "user_ipaddress"),),
        (("de-DE", "br_lang"),),
        (("Europe/Berlin", "os_timezone"),),
    )


def test_tsv_without_the_residency_entity_declares_nothing() -> None:
    [event] = TSV.split({}, enriched_line(residency=None).encode())
    assert TSV.signals(event.body)[0] == ()
    [event] = TSV.split({}, enriched_line({"contexts": ""}, residency=None).encode())
    assert TSV.signals(event.body)[0] == ()


def test_a_residency_entity_in_derived_contexts_or_as_the_event_counts_as_a_declaration() -> None:
    # An enrichment (or a pipeline that moved it) put it there: it still says where the user is.
    derived = {"schema": CONTEXTS, "data": [UA_PARSER, {"schema": RESIDENCY, "data": {"residency": "us"}}]}
    unstruct = {"schema": UNSTRUCT, "data": {"schema": RESIDENCY, "data": {"residency": "cn"}}}
    columns = {"derived_contexts": derived, "unstruct_event": unstruct}
    line = enriched_line({column: orjson.dumps(value).decode() for column, value in columns.items()})
    [event] = TSV.split({}, line.encode())
    assert TSV.signals(event.body)[0] == (
        ("eu", DECLARED_LABEL),
        ("us", "derived_contexts.data.1.data.residency"),
        ("cn", "unstruct_event.data.data.residency"),
    )


def test_the_pseudonymized_copy_still_writes_131_columns() -> None:
    [event] = TSV.split({}, enriched_line().encode())
    written, _ = pseudonymizing(TSV).apply(event.body, TSV, {}, None)
    assert TSV.matches_text(written)
    for value in (CANARY_EMAIL, CANARY_IP, BASE_FIELDS["domain_userid"], BASE_FIELDS["network_userid"]):
        assert value.encode() not in written
    [again] = TSV.split({}, written)
    assert again.body["user_ipaddress"] == "203.0.113.0"
    assert again.body["user_id"].startswith("pz:eu:1:")
    assert again.body["geo_country"] == "DE"


def test_the_sdk_json_form_is_claimed_and_reads_the_same_signals() -> None:
    line = enriched_line()
    document = transform(line)  # the official Snowplow Python Analytics SDK
    assert document["contexts_io_residencygateway_residency_1"] == [{"residency": "eu"}]
    assert document["collector_tstamp"] == "2026-11-28T12:00:00.000Z"  # the SDK rewrites timestamps
    raw = orjson.dumps(document)

    assert JSON.matches(document)
    assert not TSV.matches_text(raw)
    for other in (SnowplowFormat(), Ga4Format(), RudderStackFormat(), SegmentFormat(), SnowplowGetFormat()):
        assert not other.matches(document), other.name

    [event] = JSON.split(document, raw)
    assert event.raw == raw and event.body is document
    [tsv_event] = TSV.split({}, line.encode())
    assert [[value for value, _ in slot] for slot in JSON.signals(document)] == [
        [value for value, _ in slot] for slot in TSV.signals(tsv_event.body)
    ]
    assert JSON.signals(document) == (
        (("eu", "contexts_io_residencygateway_residency_1.0.residency"),),
        (("DE", "geo_country"),),
        ((CANARY_IP, "user_ipaddress"),),
        (("de-DE", "br_lang"),),
        (("Europe/Berlin", "os_timezone"),),
    )
    assert orjson.loads(JSON.encode(document, {})) == document


def test_the_json_form_is_pseudonymized_at_the_same_fields() -> None:
    document = transform(enriched_line())
    written, _ = pseudonymizing(JSON).apply(document, JSON, {}, None)
    assert CANARY_EMAIL.encode() not in written and CANARY_IP.encode() not in written
    assert orjson.loads(written)["domain_sessionidx"] == 3  # typed values the SDK made are left alone


def test_the_json_form_needs_the_enriched_event_keys() -> None:
    document = transform(enriched_line())
    for key in ("event_id", "collector_tstamp", "v_etl"):
        assert not JSON.matches({k: v for k, v in document.items() if k != key})
    assert not JSON.matches({"event_id": "x", "collector_tstamp": 1, "v_etl": "y"})
    with pytest.raises(PayloadError, match="enriched event has no event_id") as caught:
        JSON.split({**document, "event_id": ""}, b"{}")
    assert_quotes_nothing(caught.value)


@pytest.mark.parametrize("missing", ["event_id", "collector_tstamp"])
def test_a_line_without_an_id_or_collector_time_is_rejected(missing: str) -> None:
    raw = enriched_line({missing: ""}).encode()
    assert TSV.matches_text(raw)
    with pytest.raises(PayloadError) as caught:
        TSV.split({}, raw)
    assert caught.value.stage == "decode"
    assert caught.value.reason == f"enriched event has no {missing}"
    assert_quotes_nothing(caught.value)


def test_a_record_of_two_lines_is_claimed_and_rejected() -> None:
    line = enriched_line().encode()
    raw = line + b"\n" + line + b"\n"
    assert TSV.matches_text(raw)
    with pytest.raises(PayloadError) as caught:
        TSV.split({}, raw)
    assert caught.value.reason == "enriched TSV record holds 2 lines, expected one"
    assert_quotes_nothing(caught.value)


def test_a_line_break_inside_a_value_is_rejected_when_split() -> None:
    raw = enriched_line({"page_title": "Meine\nBestellungen"}).encode()
    assert not TSV.matches_text(raw)  # the first line is short of 130 tabs
    with pytest.raises(PayloadError, match="holds 2 lines") as caught:
        TSV.split({}, raw)
    assert_quotes_nothing(caught.value)


def test_a_line_that_is_not_utf8_is_rejected() -> None:
    raw = enriched_line({"page_title": "Meine Bestellungen"}).encode().replace(b"Meine", b"M\xffine")
    assert TSV.matches_text(raw)
    with pytest.raises(PayloadError) as caught:
        TSV.split({}, raw)
    assert caught.value.reason == "enriched TSV is not UTF-8"
    assert_quotes_nothing(caught.value)


def test_split_checks_the_field_count_itself() -> None:
    # A pinned topic or a caller may hand split a line that matches_text would not claim.
    raw = (enriched_line() + "\textra").encode()
    with pytest.raises(PayloadError) as caught:
        TSV.split({}, raw)
    assert caught.value.reason == "enriched TSV has 132 fields, expected 131"


@pytest.mark.parametrize(
    ("contexts", "reason"),
    [
        (
            f'{{"schema": "{CONTEXTS}", "data": [{{"data": {{"email": "{CANARY_EMAIL}"',
            "snowplow enriched contexts is not valid JSON",
        ),
        (
            f'{{"schema": "{CONTEXTS}", "data": {{"email": "{CANARY_EMAIL}"}}}}',
            "snowplow enriched contexts hold no data array",
        ),
    ],
)
def test_broken_contexts_fail_classification_without_quoting_them(contexts: str, reason: str) -> None:
    [event] = TSV.split({}, enriched_line({"contexts": contexts}).encode())
    with pytest.raises(PayloadError) as caught:
        TSV.signals(event.body)
    assert caught.value.reason == reason and caught.value.stage == "classify"
    assert_quotes_nothing(caught.value)
