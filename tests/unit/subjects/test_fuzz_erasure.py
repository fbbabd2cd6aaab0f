"""Fuzzing the erasure request parser: a request, or a PayloadError that never names the subject."""

from __future__ import annotations

import os

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import load_config
from streams.formats.base import PayloadError
from streams.keys.ring import development_keys
from streams.outcomes import Outcome, Source
from streams.pipeline import Pipeline
from streams.subjects.erasure import MAX_REQUEST_ID, ErasureRequest, normalize_subject, parse_erasure_request
from tests.unit.formats.fuzz_payloads import CANARY_VALUES, LEAKED_FORMS, arbitrary_payloads, json_values

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))
CONFIG = load_config(None)
PIPELINE = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))

_subjects = st.sampled_from(CANARY_VALUES) | st.text(max_size=20)
_request_fields = st.fixed_dictionaries(
    {},
    optional={
        "subject": _subjects | json_values,
        "request_id": st.text(max_size=MAX_REQUEST_ID + 20) | st.sampled_from(CANARY_VALUES) | json_values,
        "note": json_values,
    },
)
requests = st.one_of(
    _request_fields.map(orjson.dumps),
    # A valid request cut short, or with bytes that aren't UTF-8.
    st.tuples(_request_fields.map(orjson.dumps), st.integers(0, 300)).map(lambda pair: pair[0][: pair[1]]),
    st.tuples(_subjects, st.sampled_from((b"\xff", b"\xed\xa0\x80", b"\x00"))).map(
        lambda pair: b'{"subject": "' + pair[0].encode("utf-8", "surrogatepass") + pair[1] + b'"}'
    ),
    arbitrary_payloads,
)


def check(raw: bytes) -> ErasureRequest | PayloadError:
    try:
        request = parse_erasure_request(raw)
    except PayloadError as bad:
        assert bad.stage == "erasure"
        lowered = bad.reason.lower()
        assert not [form for form in LEAKED_FORMS if form.lower() in lowered], bad.reason
        return bad
    document = orjson.loads(raw)
    assert isinstance(document, dict)
    assert request.subject == normalize_subject(document["subject"]) and request.subject
    assert request.request_id is None or len(request.request_id) <= MAX_REQUEST_ID
    # The repr has no subject field (a request id that reads "subject" is the sender's, not the subject).
    shown = repr(request).replace(repr(request.request_id), "")
    assert "subject=" not in shown, "the subject never reaches a log line"
    return request


@settings(max_examples=EXAMPLES, deadline=None)
@given(requests)
def test_any_erasure_request_parses_or_fails_without_naming_the_subject(raw: bytes) -> None:
    check(raw)


@settings(max_examples=EXAMPLES, deadline=None)
@given(requests, st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1))
def test_a_bad_erasure_request_is_dead_lettered_with_stage_and_coordinates(
    raw: bytes, partition: int, offset: int
) -> None:
    outcome = check(raw)
    if not isinstance(outcome, PayloadError):
        return
    source = Source(CONFIG.topics.erasure, partition, offset)
    result = PIPELINE.erasure(raw, source, _never_applied)
    [dead] = result.outputs
    assert result.audit["outcome"] == "dead-lettered" and result.audit["reason"].startswith("erasure: ")
    assert (dead.topic, dead.value, dead.outcome) == (CONFIG.topics.dead_letter, raw, Outcome.DEAD_LETTERED)
    headers = dict(dead.headers)
    assert headers["rg-error"] == outcome.reason.encode()
    assert headers["rg-stage"] == b"erasure"
    assert headers["rg-source-topic"] == source.topic.encode()
    assert headers["rg-source-partition"] == str(partition).encode()
    assert headers["rg-source-offset"] == str(offset).encode()
    for name, value in dead.headers:
        lowered = value.decode().lower()
        assert not [form for form in LEAKED_FORMS if form.lower() in lowered], name


def _never_applied(subject: str) -> list[str]:
    raise AssertionError("a request that can't be read is never applied")
