"""The gateway against the real local broker: every input lands in exactly the right topics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest

from streams.config import GatewayConfig
from streams.devtools.traffic import TrafficGenerator
from streams.kafka.engine import GatewayEngine
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.service.wiring import build_gateway
from tests.collectors.samples import every_format_lines
from tests.integration.kafka_io import (
    expected_topic_counts,
    fresh_config,
    in_thread,
    produce,
    read_all,
    topic_counts,
    wait_committed,
)

pytestmark = pytest.mark.integration

SNOWPLOW = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
EU_EMAIL = "canary.eu.4711@example.com"
CN_EMAIL = "canary.cn.4712@example.com"
US_USER = "canary-us-user-4713"


@contextmanager
def running_engine(
    config: GatewayConfig, bootstrap: str, poll_timeout: float = 0.1
) -> Iterator[GatewayEngine]:
    """The engine as `run` wires it (streams/service/wiring.py), with development keys."""
    gateway = build_gateway(
        config, bootstrap, development_keys(config.key_regions()), worker_id="w1", poll_timeout=poll_timeout
    )
    try:
        with in_thread(gateway.engine):
            yield gateway.engine
    finally:
        gateway.close()


def output_topics(config: GatewayConfig) -> list[str]:
    return [t for t in config.all_topics() if t not in config.topics.ingest]


def test_each_input_reaches_exactly_its_topics_and_no_pii_crosses_a_border(kafka_bootstrap: str) -> None:
    config, _ = fresh_config(kafka_bootstrap)
    t = config.topics
    payloads: list[bytes | None] = [
        # 0: an EU identify, single Segment event
        orjson.dumps({"type": "identify", "userId": "eu-user-1",
                      "traits": {"email": EU_EMAIL}, "context": {"ip": "81.2.69.142"}}),
        # 1: a batch: CN, no IP, junk item, US
        orjson.dumps({"batch": [
            {"type": "track", "event": "Order Completed", "userId": "cn-user",
             "context": {"ip": "114.114.114.114", "traits": {"email": CN_EMAIL}}},
            {"type": "page", "anonymousId": "a-1", "properties": {"path": "/pricing"}},
            42,
            {"type": "track", "event": "Signed Up", "userId": US_USER, "context": {"ip": "8.8.8.8"}},
        ]}),
        # 2: Snowplow payload_data: RU and IN
        orjson.dumps({"schema": SNOWPLOW, "data": [
            {"e": "pv", "uid": "ru-user", "ip": "77.88.55.66"},
            {"e": "pv", "uid": "in-user", "ip": "49.44.0.1"},
        ]}),
        # 3: not JSON at all
        b"\x00\x01 definitely not an event",
        # 4: a tombstone (no value)
        None,
    ]  # fmt: skip
    coordinates = produce(kafka_bootstrap, t.ingest[0], payloads)
    with running_engine(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, t.ingest[0])
    out = read_all(kafka_bootstrap, output_topics(config))

    counts = topic_counts(config, out)
    region_topic = {name: region.topic for name, region in config.regions.items()}
    assert counts == {
        region_topic["eu"]: 1, region_topic["us"]: 1, region_topic["cn"]: 1,
        region_topic["in"]: 1, region_topic["ru"]: 1, region_topic["row"]: 0,
        config.destinations["global"].topic: 3,  # eu, us, in; never cn or ru
        t.quarantine: 1, t.dead_letter: 3,
        t.audit: 9,  # an entry per event, whatever happened to it
        t.erasure: 0, **{config.subject_keys_topic(r): 0 for r in config.regions},
    }  # fmt: skip

    # Full data stays home, in its collector's format.
    [eu] = out[region_topic["eu"]]
    assert orjson.loads(eu.value)["traits"]["email"] == EU_EMAIL
    assert eu.headers["rg-region"] == b"eu" and eu.headers["rg-reason"] == b"ip: GB -> eu (context.ip)"
    assert eu.headers["rg-signal"] == b"ip"
    [ru] = out[region_topic["ru"]]
    assert orjson.loads(ru.value) == {
        "schema": SNOWPLOW,
        "data": [{"e": "pv", "uid": "ru-user", "ip": "77.88.55.66"}],
    }

    # Canaries never leave their home region in the clear.
    for topic, records in out.items():
        for record in records:
            value = record.value or b""
            if topic != region_topic["eu"]:
                assert EU_EMAIL.encode() not in value, topic
            if topic != region_topic["cn"]:
                assert CN_EMAIL.encode() not in value, topic
            if topic != region_topic["us"]:
                assert US_USER.encode() not in value, topic
    global_regions = sorted(r.headers["rg-region"].decode() for r in out[config.destinations["global"].topic])
    assert global_regions == ["eu", "in", "us"]

    # Quarantine holds the event with no jurisdiction signal, with where it came from.
    [held] = out[t.quarantine]
    assert orjson.loads(held.value)["properties"] == {"path": "/pricing"}
    assert held.headers["rg-source-offset"] == str(coordinates[1][1]).encode()
    assert held.headers["rg-source-index"] == b"1"

    # Dead letters: the junk batch item, the non-JSON payload and the tombstone, each with reason and source.
    dead = sorted(out[t.dead_letter], key=lambda r: int(r.headers["rg-source-offset"]))
    assert [(int(r.headers["rg-source-offset"]), r.headers["rg-source-index"]) for r in dead] == [
        (coordinates[1][1], b"2"), (coordinates[3][1], b"0"), (coordinates[4][1], b"0"),
    ]  # fmt: skip
    assert all(r.headers["rg-source-topic"] == t.ingest[0].encode() for r in dead)
    assert dead[0].headers["rg-error"] == b"segment event is not a JSON object"
    assert dead[1].headers["rg-error"].startswith(b"not valid JSON")
    assert dead[1].value == payloads[3]
    assert dead[2].headers["rg-error"] == b"empty payload"


def test_mixed_traffic_counts_match_the_pure_pipeline(kafka_bootstrap: str) -> None:
    config, _ = fresh_config(kafka_bootstrap)
    payloads = list(TrafficGenerator(seed=11).payloads(1500))
    expected = expected_topic_counts(config, payloads)
    produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
    with running_engine(config, kafka_bootstrap) as engine:
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0])
    out = read_all(kafka_bootstrap, output_topics(config))
    assert {topic: n for topic, n in topic_counts(config, out).items() if n} == expected
    assert engine.stats.records_in == len(payloads)
    assert min(expected[config.regions[r].topic] for r in config.regions) > 0


def test_a_restarted_engine_resumes_after_its_last_commit(kafka_bootstrap: str) -> None:
    config, _ = fresh_config(kafka_bootstrap)
    ingest = config.topics.ingest[0]

    def us_tracks(prefix: str, count: int) -> list[bytes | None]:
        return [
            orjson.dumps(
                {"type": "track", "event": f"{prefix}{i}", "anonymousId": "a", "context": {"ip": "8.8.8.8"}}
            )
            for i in range(count)
        ]

    produce(kafka_bootstrap, ingest, us_tracks("e", 20))
    with running_engine(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
    produce(kafka_bootstrap, ingest, us_tracks("f", 7))
    with running_engine(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest)
    events = [
        orjson.loads(r.value)["event"]
        for r in read_all(kafka_bootstrap, [config.regions["us"].topic])[config.regions["us"].topic]
    ]
    assert sorted(events) == sorted([f"e{i}" for i in range(20)] + [f"f{i}" for i in range(7)])


def test_an_event_is_not_held_back_until_a_batch_fills(kafka_bootstrap: str) -> None:
    # batch_size 500 and a long idle wait: an engine that waited for a full batch (or for the
    # wait to end) would commit the lone event only after poll_timeout.
    config, _ = fresh_config(kafka_bootstrap)
    ingest = config.topics.ingest[0]
    poll_timeout = 8.0

    def one_track(name: str) -> list[bytes | None]:
        return [
            orjson.dumps({"type": "track", "event": name, "anonymousId": "a", "context": {"ip": "8.8.8.8"}})
        ]

    with running_engine(config, kafka_bootstrap, poll_timeout=poll_timeout) as engine:
        produce(kafka_bootstrap, ingest, one_track("joined"))  # the first one waits for the group join
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest, timeout=60)
        produce(kafka_bootstrap, ingest, one_track("alone"))
        started = time.monotonic()
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest, timeout=60)
        took = time.monotonic() - started
        assert engine.stats.records_in == 2
    assert took < poll_timeout / 2, f"the lone event waited {took:.1f}s for its batch"


def test_every_collector_format_is_routed_with_its_decision_in_headers(kafka_bootstrap: str) -> None:
    config, _ = fresh_config(kafka_bootstrap)
    lines = every_format_lines()
    produce(kafka_bootstrap, config.topics.ingest[0], [raw for raw, *_ in lines])
    with running_engine(config, kafka_bootstrap):
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0])
    out = read_all(kafka_bootstrap, output_topics(config))
    home_topics = {config.regions[r].topic for r in config.regions} | {config.topics.quarantine}
    homes = [r for topic, records in out.items() if topic in home_topics for r in records]
    assert len(homes) == len(lines)
    by_value = {r.value: r for r in homes}
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    home_value = {
        raw: pipeline.process(raw, Source("offline", 0, 0))[0].outputs[0].value for raw, *_ in lines
    }
    for raw, _format, region, signal in lines:
        record = by_value[home_value[raw]]  # each payload holds one event
        assert record.headers["rg-signal"] == signal.encode()
        assert record.headers.get("rg-region") == (region.encode() if region else None)
        assert record.headers["rg-policy-version"] == config.policy_version.encode()
    rudder = by_value[home_value[lines[1][0]]]
    assert rudder.headers["rg-ignored"] == b"ip: IN -> in (request_ip)"
