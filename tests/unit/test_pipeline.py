"""The whole per-event path with no broker: every input lands somewhere, nothing leaks in the clear."""

from pathlib import Path

import orjson
import pytest

from streams.config import load_config, parse_config
from streams.devtools.traffic import TrafficGenerator
from streams.keys.ring import development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline
from tests.unit.garbage import assert_no_reference_cycles

SNOWPLOW = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
SOURCE = Source("events.ingest", 2, 1234)
IPS = {"eu": "81.2.69.142", "us": "8.8.8.8", "cn": "114.114.114.114", "in": "49.44.0.1", "ru": "77.88.55.66",
       "row": "200.160.2.3"}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    config = load_config(None)
    return Pipeline(config, development_keys(config.key_regions()))


def segment(ip: str | None, email: str = "jane@example.com") -> bytes:
    context = {"traits": {"email": email}}
    if ip:
        context["ip"] = ip
    return orjson.dumps({"type": "identify", "userId": "user-7", "context": context})


@pytest.mark.parametrize("region", ["eu", "us", "in", "row"])
def test_exporting_regions_write_full_event_home_and_pseudonymized_copy_global(
    pipeline: Pipeline, region: str
) -> None:
    [result] = pipeline.process(segment(IPS[region]), SOURCE)
    assert result.decision is not None and result.decision.region == region
    home, copy = result.outputs
    assert (home.topic, home.region, home.outcome) == (f"events.{region}", region, Outcome.ROUTED)
    assert b"jane@example.com" in home.value and b"user-7" in home.value
    assert (copy.topic, copy.region, copy.outcome) == ("events.global", "global", Outcome.EXPORTED)
    assert b"jane@example.com" not in copy.value and b"user-7" not in copy.value
    assert IPS[region].encode() not in copy.value


@pytest.mark.parametrize("region", ["cn", "ru"])
def test_nothing_leaves_cn_or_ru(pipeline: Pipeline, region: str) -> None:
    [result] = pipeline.process(segment(IPS[region]), SOURCE)
    assert [(o.topic, o.outcome) for o in result.outputs] == [(f"events.{region}", Outcome.ROUTED)]


@pytest.mark.parametrize("ip", [None, "10.0.0.8", "fe80::1", "1000:db8::1"])
def test_undecidable_jurisdiction_is_quarantined_never_defaulted(pipeline: Pipeline, ip: str | None) -> None:
    [result] = pipeline.process(segment(ip), SOURCE)
    assert result.decision is not None and result.decision.region is None
    assert result.decision.reason.startswith("no-signal")
    [held] = result.outputs
    assert (held.topic, held.region, held.outcome) == ("events.quarantine", None, Outcome.QUARANTINED)
    headers = dict(held.headers)
    assert headers["rg-source-offset"] == b"1234" and headers["rg-source-partition"] == b"2"


def test_malformed_payload_is_dead_lettered_with_reason_and_coordinates(pipeline: Pipeline) -> None:
    raw = b'{"type": "track", "context": {"ip": "8.8.8.8"'
    [result] = pipeline.process(raw, SOURCE)
    [dead] = result.outputs
    headers = dict(dead.headers)
    assert dead.topic == "events.dead-letter" and dead.value == raw
    assert headers["rg-error"].startswith(b"not valid JSON")
    assert headers["rg-source-topic"] == b"events.ingest"
    assert (headers["rg-source-partition"], headers["rg-source-offset"]) == (b"2", b"1234")
    assert result.error is not None


def test_a_batch_yields_one_result_per_item_whatever_each_holds(pipeline: Pipeline) -> None:
    raw = orjson.dumps(
        {"batch": [
            {"type": "track", "event": "A", "anonymousId": "a1", "context": {"ip": IPS["eu"]}},
            "junk",
            {"type": "page", "anonymousId": "a2", "context": {"ip": IPS["cn"]}},
            {"type": "track", "event": "B", "userId": "u"},
        ]}
    )  # fmt: skip
    results = pipeline.process(raw, SOURCE)
    assert [r.index for r in results] == [0, 1, 2, 3]
    topics = [[o.topic for o in r.outputs] for r in results]
    assert topics == [
        ["events.eu", "events.global"],
        ["events.dead-letter"],
        ["events.cn"],
        ["events.quarantine"],
    ]
    assert dict(results[1].outputs[0].headers)["rg-source-index"] == b"1"


def test_snowplow_events_route_one_by_one_in_their_own_format(pipeline: Pipeline) -> None:
    raw = orjson.dumps({"schema": SNOWPLOW, "data": [
        {"e": "pv", "uid": "u1", "ip": IPS["ru"]},
        {"e": "pv", "uid": "u2", "ip": IPS["in"]},
    ]})  # fmt: skip
    ru, india = pipeline.process(raw, SOURCE)
    assert [o.topic for o in ru.outputs] == ["events.ru"]
    assert orjson.loads(ru.outputs[0].value) == {
        "schema": SNOWPLOW,
        "data": [{"e": "pv", "uid": "u1", "ip": IPS["ru"]}],
    }
    copy = orjson.loads(india.outputs[1].value)
    assert copy["schema"] == SNOWPLOW and copy["data"][0]["uid"].startswith("pz:in:0:")


def test_decision_travels_in_headers(pipeline: Pipeline) -> None:
    [result] = pipeline.process(segment(IPS["eu"]), SOURCE)
    headers = dict(result.outputs[0].headers)
    assert headers["rg-region"] == b"eu"
    assert headers["rg-signal"] == b"ip"
    assert headers["rg-reason"] == b"ip: GB -> eu (context.ip)"
    assert "rg-ignored" not in headers
    assert headers["rg-policy-version"] == b"2026-12-02.1"


def test_the_input_key_never_travels_with_the_global_copy(pipeline: Pipeline) -> None:
    [result] = pipeline.process(segment(IPS["us"]), SOURCE, key=b"user-7")
    home, copy = result.outputs
    # The copy is keyed by the pseudonym it carries already, never by the input key.
    assert home.key == b"user-7" and copy.key != b"user-7"
    assert copy.key is not None and copy.key.startswith(b"pz:us:") and copy.key in copy.value


def test_a_copy_is_keyed_by_its_subjects_pseudonym_only_when_it_carries_it() -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "minimal.yaml").read_text()
    config = parse_config(text)
    keyed = Pipeline(config, development_keys(config.key_regions()))

    def copy_key(event: dict[str, object]) -> bytes | None:
        [result] = keyed.process(orjson.dumps(event), SOURCE)
        return result.outputs[-1].key

    first = copy_key({"type": "track", "event": "a", "userId": "jane-7", "context": {"ip": IPS["us"]}})
    again = copy_key({"type": "page", "userId": "jane-7", "anonymousId": "x", "context": {"ip": IPS["us"]}})
    other = copy_key({"type": "track", "event": "a", "userId": "joe-8", "context": {"ip": IPS["us"]}})
    assert first is not None and first == again != other  # stable per subject: one partition, in order
    anonymous = copy_key({"type": "track", "event": "a", "anonymousId": "an-1", "context": {"ip": IPS["us"]}})
    assert anonymous is not None and anonymous not in (first, other)
    # Rules that drop the ids: such copies carry no pseudonym, so no key either.
    rules = (
        "field_rules:\n  no_ids: {user_id: drop, anonymous_id: drop, email: drop, phone: drop, "
        "name: drop, ip: generalize, geo: drop, user_agent: drop, timestamp: generalize, "
        "found_in_text: drop}\n"
    )
    dropped = parse_config(
        text.replace("transfers: {global: pseudonymized}", "transfers: {global: no_ids}") + rules
    )
    without = Pipeline(dropped, development_keys(dropped.key_regions()))
    event = {"type": "track", "event": "a", "userId": "jane-7", "context": {"ip": IPS["us"]}}
    [result] = without.process(orjson.dumps(event), SOURCE)
    assert b"pz:" not in result.outputs[-1].value and result.outputs[-1].key is None


@pytest.mark.parametrize(
    ("field", "stage"),
    [
        # Both are read for the jurisdiction signals: a residency entity may be in either.
        ("cx", "classify"),
        ("ue_px", "classify"),
    ],
)
def test_a_broken_nested_snowplow_document_is_dead_lettered_with_the_stage_that_read_it(
    pipeline: Pipeline, field: str, stage: str
) -> None:
    event = {"e": "ue", "uid": "user-7", "ip": IPS["eu"], field: "!!!not base64"}
    [result] = pipeline.process(orjson.dumps({"schema": SNOWPLOW, "data": [event]}), SOURCE)
    assert result.error is not None and result.error.stage == stage
    [dead] = result.outputs
    assert dead.outcome is Outcome.DEAD_LETTERED
    assert dict(dead.headers)["rg-stage"] == stage.encode()
    assert result.audit["reason"] == f"{stage}: snowplow {field} is not valid base64"


def test_processing_leaves_no_garbage_only_the_cyclic_collector_could_free(pipeline: Pipeline) -> None:
    # The engine collects cyclic garbage rarely (streams/kafka/engine.py), so a result that
    # kept its payload alive in a cycle (a raised exception's traceback did) piled up in memory.
    broken_ue = {"e": "ue", "uid": "user-7", "ip": IPS["eu"], "ue_px": "!!!not base64"}
    broken_cx = {"e": "pv", "uid": "user-7", "ip": IPS["eu"], "cx": "!!!not base64"}
    payloads = [
        *TrafficGenerator(seed=5).payloads(300),
        b"{not json",
        orjson.dumps({"schema": SNOWPLOW, "data": [broken_ue, broken_cx]}),
    ]

    assert_no_reference_cycles(pipeline, payloads)


def test_an_email_user_id_gets_the_pseudonym_of_the_same_email_in_traits(pipeline: Pipeline) -> None:
    raw = orjson.dumps(
        {"type": "identify", "userId": " Jane.Doe@Example.COM", "traits": {"email": "jane.doe@example.com"},
         "context": {"ip": IPS["eu"]}}
    )  # fmt: skip
    [result] = pipeline.process(raw, SOURCE)
    copy = orjson.loads(result.outputs[1].value)
    # Traits don't leave; the email they hold would have the same pseudonym as the user id.
    key = pipeline._router._regions["eu"].transfers[0].record.copier.transforms
    assert copy["userId"].startswith("pz:eu:") and copy["userId"] == key.pseudonym(
        "jane.doe@example.com", "email"
    )
