"""Collector formats: detection, splitting, and writing one event back in its own format."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.formats.base import Evidence, PayloadError
from streams.formats.detect import decode

SNOWPLOW = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"


def test_segment_single_event_keeps_its_exact_bytes() -> None:
    raw = b'{"type":"track","event":"Signed Up","userId":"u1","context":{"ip":"8.8.8.8"}}'
    payload = decode(raw)
    assert payload.format.name == "segment"
    [event] = payload.events
    assert event.raw == raw and event.error is None
    assert payload.format.signals(event.body)[2] == (("8.8.8.8", "context.ip"),)


def test_segment_batch_splits_into_single_events_with_the_shared_context() -> None:
    raw = orjson.dumps(
        {
            "batch": [
                {"type": "page", "anonymousId": "a1", "context": {"page": {"path": "/a"}}},
                {"type": "identify", "userId": "u1"},
            ],
            "context": {"library": {"name": "analytics-python"}, "ip": "81.2.69.142"},
        }
    )
    payload = decode(raw)
    first, second = payload.events
    assert first.raw is None
    assert first.body["context"] == {
        "library": {"name": "analytics-python"},
        "ip": "81.2.69.142",
        "page": {"path": "/a"},
    }
    assert payload.format.signals(second.body)[2] == (("81.2.69.142", "context.ip"),)
    written = orjson.loads(payload.format.encode(second.body, payload.envelope))
    assert written["type"] == "identify" and "batch" not in written


def test_snowplow_payload_data_is_written_back_one_event_per_body() -> None:
    raw = orjson.dumps({"schema": SNOWPLOW, "data": [{"e": "pv", "ip": "8.8.8.8"}, {"e": "se"}]})
    payload = decode(raw)
    assert payload.format.name == "snowplow"
    assert [e.body["e"] for e in payload.events] == ["pv", "se"]
    written = orjson.loads(payload.format.encode(payload.events[1].body, payload.envelope))
    assert written == {"schema": SNOWPLOW, "data": [{"e": "se"}]}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty payload"),
        (b"not json", "not valid JSON"),
        (b"[1,2]", "payload is a JSON array, not an object"),
        (b'"text"', "payload is a JSON string, not an object"),
        (b'{"hello": "world"}', "payload matches no supported collector format"),
        (b'{"batch": []}', "segment batch is empty"),
        (orjson.dumps({"schema": SNOWPLOW, "data": "x"}), "snowplow payload_data has no data array"),
    ],
)
def test_undecodable_payloads_raise_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode(raw)
    assert caught.value.reason.startswith(reason)


def test_invalid_batch_items_are_marked_not_dropped() -> None:
    batch = [
        {"type": "track", "event": "A", "userId": "u"},
        "junk",
        {"type": "buy", "userId": "u"},
        {"event": 1},
        {"type": "page"},
        {"type": "track", "anonymousId": "a"},
        {"type": "alias", "userId": "u"},
        {"type": "group", "userId": "u"},
    ]
    payload = decode(orjson.dumps({"batch": batch}))
    errors = [e.error.reason if e.error else None for e in payload.events]
    assert errors == [
        None,
        "segment event is not a JSON object",
        "segment event type is not one of the spec's",
        "segment event has no type",
        "segment page has neither userId nor anonymousId",
        "segment track has no event",
        "segment alias has no previousId",
        "segment group has no groupId",
    ]


def test_error_reasons_never_quote_the_payload() -> None:
    secret = "jane.doe@example.com"
    for raw in (
        f'{{"type":"track","email":"{secret}"'.encode(),
        f'{{"email":"{secret}"}}'.encode(),
        f'{{"batch":["{secret}"]}}'.encode(),
    ):
        try:
            payload = decode(raw)
            reasons = [e.error.reason for e in payload.events if e.error]
        except PayloadError as error:
            reasons = [error.reason]
        assert reasons and all(secret not in r and "jane" not in r for r in reasons)


def test_snowplow_self_describing_events_and_contexts_read_the_same_in_both_encodings() -> None:
    import base64

    from streams.formats.snowplow import context_entities, self_describing_event

    entity = {"schema": "iglu:com.acme/x/jsonschema/1-0-0", "data": {"a": 1}}
    contexts = orjson.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
                             "data": [entity]})  # fmt: skip
    event = orjson.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                          "data": entity})  # fmt: skip
    unpadded = base64.urlsafe_b64encode(contexts).decode().rstrip("=")
    standard = base64.b64encode(event).decode()
    assert context_entities({"co": contexts.decode()}) == context_entities({"cx": unpadded}) == [entity]
    assert self_describing_event({"ue_pr": event.decode()}) == self_describing_event({"ue_px": standard})
    with pytest.raises(PayloadError, match="snowplow cx is not valid JSON"):
        context_entities({"cx": "bm90IGpzb24"})


_KEYS = st.sampled_from(["context", "Context", "residency", "Residency", "RESIDENCY", "value", "Value", "x"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(["DE", "cn", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@given(document=st.dictionaries(_KEYS, _JSON, max_size=4), null_at=st.sampled_from([None, 1]))
def test_a_declaration_is_read_from_any_json_without_raising_and_names_only_spellings_of_its_path(
    document: dict[str, object], null_at: int | None
) -> None:
    from streams.formats.base import read_declared

    found: list[Evidence] = []
    read_declared(
        document, ("context", "residency", "value"), "context.residency.value", found, null_at=null_at
    )
    for _value, label in found:
        assert label.lower().startswith("context") and label.count(".") <= 2, label
