"""Payloads are read exactly as written or dead-lettered with a reason; none crashes the pipeline."""

import base64

import orjson
import pytest

from streams.config import load_config
from streams.formats.exact_json import read_json
from streams.formats.snowplow_enriched import SnowplowEnrichedTsvFormat
from streams.keys.ring import development_keys
from streams.outcomes import EventResult, Outcome, Source
from streams.pipeline import Pipeline
from tests.unit.garbage import assert_no_reference_cycles

SOURCE = Source("events.ingest", 1, 77)
SNOWPLOW = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
UNSTRUCT = "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0"
EU_IP = "81.2.69.142"
DUPLICATE = "holds a duplicate key in a JSON object"
TOO_DEEP = "nests deeper than 254 levels"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    config = load_config(None)
    return Pipeline(config, development_keys(config.key_regions()))


def dead_letter(results: list[EventResult], stage: str, reason: str) -> bytes:
    """The one dead letter the payload became; its value."""
    [result] = results
    assert result.decision is None and result.error is not None
    assert (result.error.stage, result.error.reason) == (stage, reason)
    [dead] = result.outputs
    assert dead.outcome is Outcome.DEAD_LETTERED and dead.topic == "events.dead-letter"
    headers = dict(dead.headers)
    assert (headers["rg-stage"], headers["rg-error"]) == (stage.encode(), reason.encode())
    return dead.value


def test_duplicate_keys_anywhere_dead_letter_the_payload(pipeline: Pipeline) -> None:
    # orjson keeps the last "context": the event was decided on the DE address and exported,
    # while the bytes kept in the eu topic said CN first.
    raw = (
        b'{"type":"track","event":"x","userId":"u","context":{"ip":"114.114.114.114"},'
        b'"context":{"ip":"85.214.132.117"}}'
    )
    value = dead_letter(pipeline.process(raw, SOURCE), "decode", f"payload {DUPLICATE}")
    assert value == raw


@pytest.mark.parametrize(
    "raw",
    [
        # deep inside an event's properties
        b'{"type":"track","event":"x","userId":"u","context":{"ip":"81.2.69.142"},'
        b'"properties":{"items":[{"sku":"a","price":{"eur":1,"eur":2}}]}}',
        # in one item of a batch: the whole payload, not the item, is unreadable
        b'{"batch":[{"type":"page","userId":"u1","context":{"ip":"81.2.69.142"}},'
        b'{"type":"page","userId":"u2","userId":"u3","context":{"ip":"8.8.8.8"}}]}',
        # a key spelled two ways, and whitespace as a Python client writes it
        b'{"type": "identify", "userId": "u", "\\u0075serId": "v", "context": {"ip": "81.2.69.142"}}',
        # a GA4 body and a Snowplow event
        b'{"client_id":"1.2","events":[{"name":"purchase","params":{"value":1,"value":100}}]}',
        b'{"schema":"' + SNOWPLOW.encode() + b'","data":[{"e":"pv","ip":"81.2.69.142","uid":"a","uid":"b"}]}',
    ],
)
def test_a_duplicate_key_at_any_depth_in_any_format_dead_letters_the_payload(
    pipeline: Pipeline, raw: bytes
) -> None:
    assert dead_letter(pipeline.process(raw, SOURCE), "decode", f"payload {DUPLICATE}") == raw


def test_text_that_only_looks_like_an_escaped_colon_is_no_duplicate(pipeline: Pipeline) -> None:
    raw = b'{"type":"track","event":"a\\\\u003a","userId":"u","context":{"ip":"81.2.69.142"}}'
    [result] = pipeline.process(raw, SOURCE)
    assert result.error is None and result.decision is not None and result.decision.region == "eu"


def snowplow(event: dict[str, object]) -> bytes:
    return orjson.dumps({"schema": SNOWPLOW, "data": [{"e": "ue", "uid": "user-7", "ip": EU_IP, **event}]})


ENTITY_WITH_A_REPEAT = '{"schema":"iglu:com.acme/user/jsonschema/1-0-0","data":{"id":"a","id":"b"}}'


@pytest.mark.parametrize(
    ("field", "text", "stage"),
    [
        # Contexts and the self-describing event are read for the signals (a residency entity).
        ("co", f'{{"schema":"{CONTEXTS}","data":[{ENTITY_WITH_A_REPEAT}]}}', "classify"),
        ("cx", f'{{"schema":"{CONTEXTS}","data":[{ENTITY_WITH_A_REPEAT}],"data":[]}}', "classify"),
        ("ue_pr", f'{{"schema":"{UNSTRUCT}","data":{ENTITY_WITH_A_REPEAT}}}', "classify"),
        ("ue_px", f'{{"schema":"{UNSTRUCT}","data":{ENTITY_WITH_A_REPEAT}}}', "classify"),
    ],
)
def test_duplicate_keys_in_nested_snowplow_documents_dead_letter_the_event(
    pipeline: Pipeline, field: str, text: str, stage: str
) -> None:
    value = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=") if field.endswith("x") else text
    raw = snowplow({field: value})
    assert dead_letter(pipeline.process(raw, SOURCE), stage, f"snowplow {field} {DUPLICATE}") == raw


def enriched(**columns: str) -> bytes:
    fields = {
        "event_id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb",
        "collector_tstamp": "2026-11-28 12:00:00.000",
    }
    return SnowplowEnrichedTsvFormat().encode({**fields, "user_ipaddress": EU_IP, **columns}, {})


@pytest.mark.parametrize(
    ("column", "stage"),
    [("contexts", "classify"), ("derived_contexts", "classify"), ("unstruct_event", "classify")],
)
def test_duplicate_keys_in_enriched_json_columns_dead_letter_the_event(
    pipeline: Pipeline, column: str, stage: str
) -> None:
    wrapper = UNSTRUCT if column == "unstruct_event" else CONTEXTS
    document = f'{{"schema":"{wrapper}","data":' + (
        ENTITY_WITH_A_REPEAT if column == "unstruct_event" else f"[{ENTITY_WITH_A_REPEAT}]"
    )
    raw = enriched(**{column: document + "}"})
    reason = f"snowplow enriched {column} {DUPLICATE}"
    assert dead_letter(pipeline.process(raw, SOURCE), stage, reason) == raw


def test_user_ids_past_64_bits_keep_their_digits_and_get_distinct_pseudonyms(pipeline: Pipeline) -> None:
    copies = []
    for user_id in (b"18446744073709551617", b"18446744073709551618"):
        raw = b'{"type":"track","event":"x","userId":' + user_id + b',"context":{"ip":"81.2.69.142"},'
        raw += b'"properties":{"revenue":12.5,"quantity":123456789012345678901234567890}}'
        [result] = pipeline.process(raw, SOURCE)
        home, copy = result.outputs
        assert home.value == raw and copy.outcome is Outcome.EXPORTED
        # Not personal, so kept: with its digits, not as 1.2345678901234568e+29.
        assert b'"quantity":123456789012345678901234567890' in copy.value
        copies.append(read_json(copy.value))
    first, second = (copy["userId"] for copy in copies)
    assert first.startswith("pz:eu:") and second.startswith("pz:eu:") and first != second


def test_a_payload_that_is_a_number_past_64_bits_is_a_number_not_an_object(pipeline: Pipeline) -> None:
    raw = b"18446744073709551617"
    assert (
        dead_letter(pipeline.process(raw, SOURCE), "decode", "payload is a JSON number, not an object") == raw
    )


def deep_segment(depth: int) -> bytes:
    # The event object is level 1 and "properties" level 2: `depth` levels in all.
    nested = b"[" * (depth - 2) + b"]" * (depth - 2)
    return b'{"type":"track","event":"x","userId":"u","context":{"ip":"81.2.69.142"},"properties":{"a":' + (
        nested + b"}}"
    )


def test_a_payload_as_deep_as_the_writer_writes_is_routed_and_exported(pipeline: Pipeline) -> None:
    [result] = pipeline.process(deep_segment(254), SOURCE)
    assert result.error is None and [o.outcome for o in result.outputs] == [Outcome.ROUTED, Outcome.EXPORTED]


@pytest.mark.parametrize("depth", [255, 260, 1023, 1024, 1025, 5000])
def test_payload_nested_deeper_than_the_writer_is_dead_lettered_not_a_crash(
    pipeline: Pipeline, depth: int
) -> None:
    raw = deep_segment(depth)
    reason = f"payload {TOO_DEEP}, more than can be written back as JSON"
    assert dead_letter(pipeline.process(raw, SOURCE), "decode", reason) == raw


def test_a_nested_snowplow_document_deeper_than_the_writer_is_dead_lettered(pipeline: Pipeline) -> None:
    deep = "[" * 300 + "]" * 300
    raw = snowplow({"co": f'{{"schema":"{CONTEXTS}","data":{deep}}}'})
    reason = f"snowplow co {TOO_DEEP}, more than can be written back as JSON"
    assert dead_letter(pipeline.process(raw, SOURCE), "classify", reason) == raw


def test_reasons_never_quote_the_payload(pipeline: Pipeline) -> None:
    secret = "jane.canary@example.com"
    for raw in (
        orjson.dumps({"type": "identify", "userId": secret}).replace(
            b"}", b',"userId":"' + secret.encode() + b'"}'
        ),
        f'{{"type":"identify","userId":"{secret}","traits":{{"email":1e400}}}}'.encode(),
        deep_segment(600).replace(b'"u"', f'"{secret}"'.encode()),
    ):
        [result] = pipeline.process(raw, SOURCE)
        assert result.error is not None and "jane" not in result.error.reason
        assert all(b"jane" not in value for _, value in result.outputs[0].headers)


def test_unreadable_payloads_leave_no_garbage_only_the_cyclic_collector_could_free(
    pipeline: Pipeline,
) -> None:
    payloads = [
        b'{"type":"track","a":1,"a":2}',
        deep_segment(300),
        deep_segment(2000),
        b'{"type":"identify","userId":18446744073709551617,"context":{"ip":"81.2.69.142"}}',
        snowplow({"co": f'{{"schema":"{CONTEXTS}","data":[{ENTITY_WITH_A_REPEAT}]}}'}),
    ]

    assert_no_reference_cycles(pipeline, payloads)
