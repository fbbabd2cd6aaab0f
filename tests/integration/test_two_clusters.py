"""Two local brokers: eu's topic on an "EU cluster", everything else on the main one (issue 7 §4)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streams.config import GatewayConfig, parse_config
from streams.devtools import localbroker
from streams.devtools.traffic import TrafficGenerator
from streams.kafka.topics import apply_topics, missing_topics
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline
from streams.service.wiring import build_gateway
from tests.integration.gateway_process import gateway_running
from tests.integration.kafka_io import (
    audited,
    expected_topic_counts,
    in_thread,
    policy_text,
    produce,
    read_all,
    topic_counts,
    wait_committed,
)

pytestmark = pytest.mark.integration

EU_CLUSTER_PORT = 19142  # its controller takes the next port; 19092-19099 and 19110+ are others'


def policy(run: str, main: str, eu: str) -> str:
    """The tests' policy, with eu on a cluster of its own (which needs at-least-once delivery)."""
    changes = {
        "policy_version": f"two-clusters-{run}",
        "kafka": {"delivery": "at_least_once"},
        "regions": {"eu": {"bootstrap_servers": eu}},
    }
    return policy_text(run, main, changes)


@pytest.fixture(scope="module")
def eu_cluster() -> Iterator[str]:
    already_running = localbroker.status(EU_CLUSTER_PORT).running
    status = localbroker.start(port=EU_CLUSTER_PORT, timeout=120)
    yield status.bootstrap
    if not already_running:
        localbroker.stop(EU_CLUSTER_PORT)


def test_eu_events_are_written_only_to_the_eu_cluster(kafka_bootstrap: str, eu_cluster: str) -> None:
    run = uuid.uuid4().hex[:10]
    config = parse_config(policy(run, kafka_bootstrap, eu_cluster))
    plan = apply_topics(config, kafka_bootstrap)
    eu_topic = config.regions["eu"].topic
    assert eu_topic in plan.created and missing_topics(config, kafka_bootstrap) == []
    main_topics = set(AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics)
    eu_topics = set(AdminClient({"bootstrap.servers": eu_cluster}).list_topics(timeout=10).topics)
    assert eu_topic in eu_topics and eu_topic not in main_topics  # eu data has nowhere to land on main
    assert not {t for t in eu_topics if t.startswith(f"t{run}.")} - {eu_topic}

    payloads = list(TrafficGenerator(seed=21).payloads(400))
    expected = expected_topic_counts(config, payloads)
    assert expected[eu_topic] > 0
    produce(kafka_bootstrap, config.topics.ingest[0], list(payloads))
    # As `run` wires it: the eu region's topic gets a producer for the eu cluster (config.regions.*.cluster).
    built = build_gateway(
        config, kafka_bootstrap, development_keys(config.key_regions()), worker_id="w1", poll_timeout=0.1
    )
    engine = built.engine
    with in_thread(engine):
        wait_committed(kafka_bootstrap, config.kafka.group_id, config.topics.ingest[0], timeout=120)
        time.sleep(0.2)
    built.close()

    on_eu = read_all(eu_cluster, [eu_topic])
    assert len(on_eu[eu_topic]) == expected[eu_topic]
    assert all(r.headers.get("rg-region") == b"eu" for r in on_eu[eu_topic])
    on_main = read_all(
        kafka_bootstrap, [t for t in config.all_topics() if t not in (eu_topic, *config.topics.ingest)]
    )
    assert {t: n for t, n in topic_counts(config, on_main).items() if n} == {
        t: n for t, n in expected.items() if t != eu_topic
    }
    # On the main cluster an eu event exists only as its pseudonymized copy (and its audit record).
    for topic, records in on_main.items():
        if topic == config.destinations["global"].topic:
            continue
        assert all(r.headers.get("rg-region") != b"eu" for r in records), topic


def test_run_and_topics_apply_keep_eu_events_on_the_eu_cluster(
    kafka_bootstrap: str, eu_cluster: str, tmp_path: Path
) -> None:
    """As an operator runs it: `topics apply` and `run` as commands, on the config alone."""
    run = uuid.uuid4().hex[:10]
    text = policy(run, kafka_bootstrap, eu_cluster)
    config = parse_config(text)
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(text)
    eu_topic, ingest = config.regions["eu"].topic, config.topics.ingest[0]
    global_topic, audit_topic = config.destinations["global"].topic, config.topics.audit

    applied = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "apply", "--config", str(config_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"created  {eu_topic} (on {eu_cluster})\n" in applied.stdout
    assert f"created  {global_topic}\n" in applied.stdout  # no cluster named: the main one
    assert eu_topic not in _topics(kafka_bootstrap, run)
    assert _topics(eu_cluster, run) == {eu_topic}  # nothing else of ours on the eu cluster

    payloads = list(TrafficGenerator(seed=33).payloads(300))
    expected = expected_topic_counts(config, payloads)
    eu_events, eu_copies = _eu_share(config, payloads)
    assert expected[eu_topic] == eu_events > 0 and eu_copies > 0
    other_regions = {r.topic for r in config.regions.values()} - {eu_topic}
    assert sum(n for t, n in expected.items() if t in other_regions) > 0  # mixed: not only eu

    options = ("--worker-id", "w-two-clusters", "--web-port", "0")
    with gateway_running(config_path, tmp_path / "gateway.log", *options) as gateway:
        produce(kafka_bootstrap, ingest, list(payloads))
        wait_committed(kafka_bootstrap, config.kafka.group_id, ingest, timeout=90)
    log_text = gateway.log_text
    assert gateway.code == 0, log_text[-3000:]

    # The eu cluster holds every eu event in full, and nothing else.
    on_eu = read_all(eu_cluster, [eu_topic])[eu_topic]
    assert len(on_eu) == eu_events
    assert all(r.headers.get("rg-region") == b"eu" for r in on_eu)
    assert _topics(eu_cluster, run) == {eu_topic}
    # The main cluster holds the rest, each topic exactly as the pure pipeline predicts: nothing lost.
    assert eu_topic not in _topics(kafka_bootstrap, run)
    on_main = read_all(kafka_bootstrap, [t for t in config.all_topics() if t not in (eu_topic, ingest)])
    assert {t: n for t, n in topic_counts(config, on_main).items() if n} == {
        t: n for t, n in expected.items() if t != eu_topic
    }
    # An eu event is on the main cluster only as its pseudonymized copy and its audit record.
    for topic, records in on_main.items():
        if topic != global_topic:
            assert all(r.headers.get("rg-region") != b"eu" for r in records), topic
    assert sum(r.headers.get("rg-region") == b"eu" for r in on_main[global_topic]) == eu_copies
    audits = audited(on_main[audit_topic])
    assert sum(a.get("region") == "eu" for a in audits) == eu_events


def _topics(bootstrap: str, run: str) -> set[str]:
    """This test's topics on one cluster."""
    listed = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return {t for t in listed if t.startswith(f"t{run}.")}


def _eu_share(config: GatewayConfig, payloads: list[bytes]) -> tuple[int, int]:
    """How many events the pure pipeline routes to eu, and how many global copies those make."""
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    events = copies = 0
    global_topic = config.destinations["global"].topic
    for offset, payload in enumerate(payloads):
        for result in pipeline.process(payload, Source("expected", 0, offset)):
            if result.decision is not None and result.decision.region == "eu":
                events += 1
                copies += sum(o.topic == global_topic for o in result.outputs)
    return events, copies


def test_a_region_on_another_cluster_needs_at_least_once() -> None:
    from streams.config import ConfigError

    text = policy("x", "127.0.0.1:19092", "127.0.0.1:19142").replace(
        "delivery: at_least_once", "delivery: exactly_once"
    )
    with pytest.raises(ConfigError, match=r"regions\.eu\.bootstrap_servers: .*at_least_once"):
        parse_config(text)
