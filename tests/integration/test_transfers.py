"""Transfer rules on the real broker: canaries stay home, erasure survives restarts, no key holds events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from confluent_kafka import Producer

from streams.config import GatewayConfig, parse_config
from streams.formats.registry import BUILT_IN_FORMATS
from streams.kafka.clients import producer_settings
from streams.kafka.engine import GatewayEngine
from streams.kafka.subjects import SubjectKeyStore
from streams.kafka.topics import apply_topics
from streams.keys.ring import KeyRing, PseudonymKey
from streams.pipeline import Pipeline
from streams.service.metrics import engine_registry, render
from streams.service.wiring import build_gateway
from streams.subjects.tokens import TokenUnreadable, detokenize
from tests.collectors.canaries import (
    CANARY_GENERIC_TOPIC_FIELDS,
    canary_forms,
    canary_payloads,
    generic_canary,
    hostile_canary_payloads,
    leaked_forms,
)
from tests.integration.kafka_io import audited, in_thread, produce, read_all, wait_committed

pytestmark = pytest.mark.integration
BUILT_IN_FORMAT_NAMES = [collector.name for collector in BUILT_IN_FORMATS]

KEYS = KeyRing([PseudonymKey(region, 1, bytes([n]) * 32) for n, region in enumerate(
    ["eu", "us", "cn", "in", "ru", "row"], start=1)])  # fmt: skip

POLICY = """
policy_version: transfers-{run}
kafka: {{bootstrap_servers: "{bootstrap}", group_id: gw-{run}, batch_size: 200, partitions: 1}}
topics:
  ingest: [t{run}.ingest, t{run}.partner]
  ingest_formats: {{t{run}.partner: generic}}
  quarantine: t{run}.quarantine
  dead_letter: t{run}.dead-letter
  audit: t{run}.audit
  erasure: t{run}.erasure
destinations:
  # traits.email: an email kept by path is still an email, tokenized or pseudonymized as the rules say.
  global: {{topic: t{run}.global, purpose: analytics, keep: [traits.email]}}
regions:
  eu: {{countries: [EU27, IS, LI, "NO", CH, GB], topic: t{run}.eu, transfers: {{global: {rules}}}}}
  us: {{countries: [US], topic: t{run}.us, transfers: {{global: {rules}}}}}
  cn: {{countries: [CN], topic: t{run}.cn}}
  in: {{countries: [IN], topic: t{run}.in, transfers: {{global: {rules}}}}}
  ru: {{countries: [RU], topic: t{run}.ru}}
  row: {{countries: "*", topic: t{run}.row, transfers: {{global: {rules}}}}}
field_rules:
  pseudonymized: {{}}
  tokens: {{user_id: tokenize, email: tokenize}}
formats:
  generic: {generic}
erasure: {{after: {after}}}
"""


def config_for(bootstrap: str, rules: str = "pseudonymized", after: str = "suppress") -> GatewayConfig:
    text = POLICY.format(
        run=uuid.uuid4().hex[:10], bootstrap=bootstrap, rules=rules, after=after,
        generic=orjson.dumps(CANARY_GENERIC_TOPIC_FIELDS).decode(),
    )  # fmt: skip
    config = parse_config(text)
    apply_topics(config, bootstrap)
    return config


def subject_store(config: GatewayConfig, bootstrap: str) -> SubjectKeyStore:
    topics = {region: config.subject_keys_topic(region) for region in config.regions}
    return SubjectKeyStore(
        bootstrap,
        topics,
        Producer(producer_settings(config.kafka, bootstrap)),
    )


@contextmanager
def gateway(
    config: GatewayConfig, bootstrap: str, keys: KeyRing = KEYS
) -> Iterator[tuple[GatewayEngine, Pipeline]]:
    """The engine as `run` wires it (streams/service/wiring.py): a subject store restored from Kafka,
    erasure requests read."""
    built = build_gateway(config, bootstrap, keys, worker_id="w1", poll_timeout=0.1, key_wait_pause=0.2)
    try:
        with in_thread(built.engine):
            yield built.engine, built.pipeline
    finally:
        built.close()


def test_no_canary_nor_an_unkeyed_hash_of_one_leaves_its_home_region_in_any_format(
    kafka_bootstrap: str,
) -> None:
    config = config_for(kafka_bootstrap)
    ingest, partner = config.topics.ingest
    # The SDKs' canary events, and the same filled with canaries where no allowlist looks, in
    # other casings and encodings (tests/collectors/canaries.py).
    payloads = [*canary_payloads(), *hostile_canary_payloads()]
    assert {name for name, _ in payloads} == set(BUILT_IN_FORMAT_NAMES) - {"generic"}
    produce(kafka_bootstrap, ingest, [raw for _, raw in payloads])
    produce(kafka_bootstrap, partner, [generic_canary()])
    with gateway(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
        wait_committed(kafka_bootstrap, config.kafka.group_id, partner)
    topics = [t for t in config.all_topics() if t not in config.topics.ingest]
    out = read_all(kafka_bootstrap, topics)
    home = config.regions["eu"].topic
    assert out[config.topics.quarantine] == [] and out[config.topics.dead_letter] == []
    events = len(out[home])
    assert events >= len(payloads) + 1  # a Segment batch holds several events
    assert len(out[config.destinations["global"].topic]) == events  # every one also leaves, transformed
    assert len(audited(out[config.topics.audit])) == events
    forms = [form.lower() for form in {*leaked_forms(), *canary_forms()}]
    leaks = [
        (topic, form)
        for topic, records in out.items() if topic != home
        for record in records
        for form in forms
        if form in (record.value or b"").decode("utf-8", "replace").lower()
        or form in (record.key or b"").decode("utf-8", "replace").lower()
    ]  # fmt: skip
    assert leaks == []
    # The home topic keeps the full data: the scan would have seen a leak.
    assert all(
        any(f in (r.value or b"").decode("utf-8", "replace").lower() for f in forms) for r in out[home]
    )


def test_tokens_survive_a_restart_until_an_erasure_destroys_the_subjects_key(kafka_bootstrap: str) -> None:
    config = config_for(kafka_bootstrap, rules="tokens")
    ingest = config.topics.ingest[0]

    def identify(n: int) -> bytes:
        traits = {"email": "erase.me@example.com"}
        return orjson.dumps({"type": "identify", "userId": "erase-me", "messageId": f"m{n}",
                             "traits": traits, "context": {"ip": "81.2.69.142"}})  # fmt: skip

    produce(kafka_bootstrap, ingest, [identify(1)])
    with gateway(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
    global_topic = config.destinations["global"].topic
    [copy] = read_all(kafka_bootstrap, [global_topic])[global_topic]
    email_token = orjson.loads(copy.value or b"")["traits"]["email"]
    assert email_token.startswith("tk:eu:")

    # A new process restores the subject's key from Kafka and can still reverse the token.
    restarted = subject_store(config, kafka_bootstrap)
    restarted.restore(timeout=30)
    assert detokenize(email_token, restarted.lookup(KEYS)) == "erase.me@example.com"
    restarted.close()

    request = {"subject": "erase-me", "request_id": "dsr-2026-12-02-000001"}
    bad_request = {"request_id": "dsr-2026-12-02-000002"}  # no subject: dead-lettered, audited, counted
    produce(kafka_bootstrap, config.topics.erasure, [orjson.dumps(bad_request), orjson.dumps(request)])
    with gateway(config, kafka_bootstrap) as (engine, _pipeline):
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.erasure)
        stats = engine.stats
        assert (stats.erasures, stats.audited_events, stats.events_out) == (1, 2, 1)
        assert stats.held_reasons == {("dead-lettered", "erasure"): 1}
    produce(kafka_bootstrap, ingest, [identify(2)])
    with gateway(config, kafka_bootstrap):  # a restart: erasure state comes back from Kafka
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)

    after = subject_store(config, kafka_bootstrap)
    after.restore(timeout=30)
    with pytest.raises(TokenUnreadable):
        detokenize(email_token, after.lookup(KEYS))
    assert after.is_erased("eu", "erase-me", KEYS)
    after.close()
    topics = [config.regions["eu"].topic, global_topic, config.topics.audit, config.topics.dead_letter]
    out = read_all(kafka_bootstrap, topics)
    assert len(out[config.regions["eu"].topic]) == 1 and len(out[global_topic]) == 1  # m2 suppressed
    audits = audited(out[config.topics.audit])
    assert [a["outcome"] for a in audits] == ["routed", "dead-lettered", "erased", "suppressed"]
    assert audits[1]["reason"] == "erasure: 'subject' is missing"
    assert audits[2]["event_id"] == "dsr-2026-12-02-000001" and audits[2]["regions_with_keys"] == ["eu"]
    [dead] = out[config.topics.dead_letter]
    assert dead.value == orjson.dumps(bad_request)
    assert all(b"erase-me" not in (r.value or b"") and b"erase.me@" not in (r.value or b"")
               for r in out[config.topics.audit])  # fmt: skip


def test_a_missing_key_holds_events_uncommitted_until_the_key_is_back(kafka_bootstrap: str) -> None:
    config = config_for(kafka_bootstrap)
    ingest = config.topics.ingest[0]
    without_eu = KeyRing([KEYS.for_region(r) for r in KEYS.regions() if r != "eu"])
    produce(kafka_bootstrap, ingest, [orjson.dumps({"type": "track", "event": "Held", "userId": "u1",
                                                    "context": {"ip": "81.2.69.142"}})])  # fmt: skip
    with gateway(config, kafka_bootstrap, keys=without_eu) as (engine, pipeline):
        deadline = time.monotonic() + 30
        while engine.stats.key_waits < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert engine.stats.key_waits >= 2 and engine.stats.records_in == 0
        assert b"residency_gateway_keys_unavailable 1.0" in render(engine_registry(engine.stats, {}))
        out = read_all(kafka_bootstrap, [config.regions["eu"].topic, config.destinations["global"].topic])
        assert all(records == [] for records in out.values())  # nothing passed, in the clear or at all
        pipeline.set_keys(KEYS)  # the key provider answers again
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
        assert b"residency_gateway_keys_unavailable 0.0" in render(engine_registry(engine.stats, {}))
    out = read_all(kafka_bootstrap, [config.regions["eu"].topic, config.destinations["global"].topic])
    assert [len(records) for records in out.values()] == [1, 1]


def test_after_a_key_rotation_old_tokens_still_reverse_and_known_subjects_are_not_held(
    kafka_bootstrap: str,
) -> None:
    config = config_for(kafka_bootstrap, rules="tokens")
    ingest = config.topics.ingest[0]
    event = orjson.dumps({"type": "identify", "userId": "rotating", "traits": {"email": "rot@example.com"},
                          "context": {"ip": "81.2.69.142"}})  # fmt: skip
    produce(kafka_bootstrap, ingest, [event])
    with gateway(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
    rotated = KeyRing([PseudonymKey("eu", 2, b"\x77" * 32), *(KEYS.for_region(r) for r in KEYS.regions())])
    produce(kafka_bootstrap, ingest, [event])
    with gateway(config, kafka_bootstrap, keys=rotated) as (engine, _):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
        assert engine.stats.key_waits == 0
    global_topic = config.destinations["global"].topic
    before, after = (
        orjson.loads(r.value or b"") for r in read_all(kafka_bootstrap, [global_topic])[global_topic]
    )
    store = subject_store(config, kafka_bootstrap)
    store.restore(timeout=30)
    # Both tokens reverse while version 1 is in its overlap window; the new one was made under version 2.
    assert detokenize(before["traits"]["email"], store.lookup(rotated)) == "rot@example.com"
    assert detokenize(after["traits"]["email"], store.lookup(rotated)) == "rot@example.com"
    assert before["traits"]["email"] != after["traits"]["email"]
    store.close()
