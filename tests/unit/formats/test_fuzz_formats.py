"""Fuzzing every collector parser through `Pipeline.process`: bad input is dead-lettered, never leaked.

For any bytes, and for every format's valid payloads mutated in their structure and
bytes with canary personal data planted in them, the pipeline never raises; each event
is routed, quarantined, or dead-lettered exactly once with its reason, its stage and its
source coordinates; and no error text, header or audit record carries a canary.
"""

from __future__ import annotations

import os

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.config import parse_config
from streams.keys.ring import development_keys
from streams.outcomes import EventResult, Outcome, Source
from streams.pipeline import Pipeline
from tests.unit.formats.fuzz_payloads import (
    AUDIT_LEAKED_FORMS,
    FORMATS,
    LEAKED_FORMS,
    SEEDS,
    arbitrary_payloads,
    mutated_payload,
)

# Where each input may fail: the pipeline's stages, and "erasure" for the erasure topic.
STAGES = {"decode", "classify", "transform", "route"}
AUTO_TOPIC = "events.ingest"
PINNED = {name: f"in.{name}" for name in FORMATS}
# The default policy with every signal read, tokens on one transfer, and one topic pinned to each format.
POLICY = f"""
policy_version: fuzz-1
topics:
  ingest: [{AUTO_TOPIC}, {", ".join(PINNED.values())}]
  ingest_formats: {orjson.dumps({topic: name for name, topic in PINNED.items()}).decode()}
destinations:
  global: {{topic: events.global, purpose: analytics}}
  partner: {{topic: events.partner}}
regions:
  eu: {{countries: [EU27, IS, LI, "NO", CH, GB], topic: events.eu, transfers: {{global: pseudonymized}}}}
  us: {{countries: [US, PR, GU, VI, AS, MP], topic: events.us, home: strict,
       transfers: {{global: pseudonymized, partner: tokens}}}}
  cn: {{countries: [CN], topic: events.cn}}
  in: {{countries: [IN], topic: events.in, transfers: {{global: dropped}}}}
  ru: {{countries: [RU], topic: events.ru}}
  row: {{countries: "*", topic: events.row, transfers: {{global: pseudonymized}}}}
jurisdiction:
  signals: [declared, upstream_country, ip, locale, timezone]
field_rules:
  pseudonymized: {{}}
  strict: {{user_id: pseudonymize, email: drop, phone: drop, name: drop, found_in_text: drop}}
  tokens: {{user_id: tokenize, anonymous_id: tokenize, email: tokenize, phone: tokenize}}
  dropped: {{user_id: drop, anonymous_id: drop, email: drop, phone: drop, ip: drop, geo: drop,
             user_agent: drop, timestamp: drop, found_in_text: drop}}
formats:
  generic:
    declared: [meta.region]
    upstream_country: [meta.country]
    ip: [client.ip]
    locale: [client.locale]
    timezone: [client.tz]
    identifiers: [user.id]
    emails: [user.email]
    phones: [user.phone]
    names: [user.name]
    geo: [client.geo]
    user_agents: [client.ua]
    timestamps: [at]
"""
CONFIG = parse_config(POLICY)
PIPELINE = Pipeline(CONFIG, development_keys(CONFIG.key_regions()))
DEAD_LETTER = CONFIG.topics.dead_letter
# A few hundred per property keeps the unit suite fast; FUZZ_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "250"))

sources = st.builds(
    Source,
    st.sampled_from([AUTO_TOPIC, *PINNED.values()]),
    st.integers(0, 2**31 - 1),
    st.integers(0, 2**63 - 1),
)


def check(raw: bytes, source: Source) -> list[EventResult]:
    """Process one input and check every property a result must have; returns the results."""
    results = PIPELINE.process(raw, source)  # must not raise: KeyUnavailable can't, with development keys
    assert results, "an input vanished"
    assert [r.index for r in results] == sorted({r.index for r in results}), "events out of order or twice"
    for result in results:
        outcomes = [output.outcome for output in result.outputs]
        if result.error is not None:
            assert outcomes == [Outcome.DEAD_LETTERED]
            check_dead_letter(raw, source, result)
        else:
            assert result.decision is not None
            assert Outcome.DEAD_LETTERED not in outcomes
            if result.decision.region is None:
                assert outcomes == [Outcome.QUARANTINED]
            else:
                # Routed: the home topic first, then copies (no erasures here, so never suppressed).
                assert outcomes and outcomes[0] is Outcome.ROUTED
                assert set(outcomes[1:]) <= {Outcome.EXPORTED}
        for output in result.outputs:
            for name, value in output.headers:
                assert_no_canary(value.decode("utf-8"), LEAKED_FORMS, f"header {name}")
        assert_no_canary(orjson.dumps(result.audit).decode(), AUDIT_LEAKED_FORMS, "the audit record")
        assert result.audit["source"] == {
            "topic": source.topic,
            "partition": source.partition,
            "offset": source.offset,
            "index": result.index,
        }
    return results


def check_dead_letter(raw: bytes, source: Source, result: EventResult) -> None:
    assert result.error is not None
    [dead] = result.outputs
    reason, stage = result.error.reason, result.error.stage
    # An exception no rule foresaw is a bug to fix, even though the pipeline contains it.
    assert not reason.startswith("internal error"), reason
    assert stage in STAGES, stage
    assert dead.topic == DEAD_LETTER
    assert dead.value or not raw, "a dead letter keeps the input's bytes"
    if result.decision is None and result.format is None:
        assert dead.value == raw, "an undecodable payload is dead-lettered as it came"
    elif dead.value != raw:
        orjson.loads(dead.value)  # an event on its own: JSON, not a placeholder
    headers = dict(dead.headers)
    assert len(headers) == len(dead.headers), "a header twice"
    assert headers["rg-error"] == reason.encode()
    assert headers["rg-stage"] == stage.encode()
    assert headers["rg-source-topic"] == source.topic.encode()
    assert headers["rg-source-partition"] == str(source.partition).encode()
    assert headers["rg-source-offset"] == str(source.offset).encode()
    assert headers["rg-source-index"] == str(result.index).encode()
    assert result.audit["outcome"] == "dead-lettered"
    assert result.audit["reason"] == f"{stage}: {reason}"
    assert_no_canary(reason, LEAKED_FORMS, "the error text")


def assert_no_canary(text: str, forms: tuple[str, ...], where: str) -> None:
    lowered = text.lower()
    leaked = [form for form in forms if form.lower() in lowered]
    assert not leaked, f"{where} carries personal data: {leaked}"


def test_every_seed_payload_is_routed_or_quarantined_unchanged() -> None:
    # The mutations start from valid payloads: if these dead-lettered, the fuzzing would test little.
    for name, payloads in SEEDS.items():
        for raw in payloads:
            for topic in (PINNED[name],) if name == "generic" else (AUTO_TOPIC, PINNED[name]):
                for result in check(raw, Source(topic, 0, 0)):
                    assert result.error is None, (name, result.error.reason)
                    assert result.format == name


def _deep(depth: int) -> bytes:
    return b'{"n":' * depth + b"1" + b"}" * depth


AT = Source(AUTO_TOPIC, 1, 42)


# Regressions, one per bug the fuzzing found:
# a Segment/RudderStack "type" that is an object or array raised TypeError (unhashable) out of process;
@example(b'{"type": {"n": "identify"}, "userId": "u-1"}', AT)
@example(b'{"type": ["track"], "event": "e", "rudderId": "r-1", "userId": "u-1"}', AT)
@example(b'{"batch": [{"type": {}, "userId": "u-1"}]}', AT)
# a spec event whose "batch" isn't an array raised TypeError out of process, or split a string into events;
@example(b'{"type": "track", "event": "e", "userId": "u-1", "batch": 5}', AT)
@example(b'{"type": "track", "event": "e", "userId": "u-1", "batch": "abc"}', AT)
# an event nested deeper than orjson writes (254) was dead-lettered as "internal error: TypeError";
@example(b'{"type": "track", "event": "e", "userId": "u-1", "context": {"ip": "81.2.69.142"}, "p": '
         + _deep(300) + b"}", AT)  # fmt: skip
@example(
    b'{"e": "pv", "tv": "js", "ip": "8.8.8.8", "url": ' + _deep(300) + b"}", Source("in.snowplow_get", 0, 1)
)
# and, as a batch item that is itself invalid, its dead letter held b"<class 'dict'>", not the event;
@example(b'{"batch": [{"type": "track", "p": ' + _deep(300) + b'}, {"type": "page", "userId": "u"}]}', AT)
# an IP address or a phone number as the collector's event id reached the audit record.
@example(b'{"type": "page", "userId": "u-1", "messageId": "81.2.69.199", "context": {"ip": "8.8.8.8"}}', AT)
@example(b'{"type": "page", "userId": "u-1", "messageId": "442079460321"}', AT)
@example(b'{"e": "pv", "tv": "js", "eid": "2a02:c7f:1234:5678::42", "ip": "8.8.8.8"}', AT)
@settings(max_examples=EXAMPLES, deadline=None)
@given(arbitrary_payloads, sources)
def test_any_bytes_are_routed_quarantined_or_dead_lettered(raw: bytes, source: Source) -> None:
    check(raw, source)


@pytest.mark.parametrize("format_name", FORMATS)
@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data(), partition=st.integers(0, 2**31 - 1), offset=st.integers(0, 2**63 - 1))
def test_mutated_payloads_are_routed_quarantined_or_dead_lettered(
    format_name: str, data: st.DataObject, partition: int, offset: int
) -> None:
    raw = data.draw(mutated_payload(format_name), label="payload")
    # Mostly the topic pinned to the format, so that its parser reads whatever the mutation made.
    topics = [PINNED[format_name], PINNED[format_name], AUTO_TOPIC, *PINNED.values()]
    topic = data.draw(st.sampled_from(topics), label="topic")
    check(raw, Source(topic, partition, offset))
