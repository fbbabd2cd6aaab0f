"""Rolling a policy out on the real broker: two workers take a published policy at batch boundaries
with no event lost or written twice; an invalid one is refused and the old one runs on; `run` takes
a policy from its file on SIGHUP and shows refusals on /health."""

from __future__ import annotations

import signal
import socket
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from streams.cli import main
from streams.config import GatewayConfig, parse_config
from streams.kafka.policy_topic import policy_topic, publish
from streams.kafka.topics import apply_topics
from streams.keys.ring import development_keys
from streams.rollout import PolicyLog
from streams.service.policy import PolicyApplier, watch_policy_topic
from streams.service.wiring import build_gateway
from tests.integration.gateway_process import WORKER_READY, gateway_running
from tests.integration.kafka_io import in_thread, policy_text, read_all, wait_committed

pytestmark = pytest.mark.integration


def _versions(bootstrap: str) -> tuple[str, str, str]:
    """The policy, the same with another version and CH in eu, and one a running worker must refuse."""
    document = yaml.safe_load(policy_text(uuid.uuid4().hex[:10], bootstrap))
    document["kafka"] |= {"partitions": 2, "batch_size": 50, "max_batch_ms": 200}
    first = yaml.safe_dump(document, sort_keys=False)
    document["policy_version"] += "-v2"
    second = yaml.safe_dump(document, sort_keys=False)
    document["policy_version"] += "-v3"
    document["kafka"]["batch_size"] = 51  # a Kafka setting: only a restart changes it
    third = yaml.safe_dump(document, sort_keys=False)
    return first, second, third


def _event(i: int) -> bytes:
    return orjson.dumps(
        {
            "type": "track",
            "event": "Viewed",
            "messageId": f"m-{i}",
            "userId": f"u{i % 7}",
            "context": {"ip": "85.195.1.1"},
        }
    )


class _Worker:
    """A worker as `run` wires it: the gateway, its policy log and applier, and the policy watcher."""

    def __init__(self, config: GatewayConfig, bootstrap: str, worker_id: str) -> None:
        keys = development_keys(config.key_regions())
        self.gateway = build_gateway(config, bootstrap, keys, worker_id=worker_id, poll_timeout=0.05)
        self.policies = PolicyLog()
        applier = PolicyApplier(self.gateway.engine, self.gateway.keys, self.gateway.subjects, self.policies)
        watcher = watch_policy_topic(config, {"bootstrap.servers": bootstrap}, applier)
        assert watcher is not None
        self.watcher = watcher


def test_two_workers_switch_at_batch_boundaries_and_refuse_what_needs_a_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    first_text, second_text, third_text = _versions(kafka_bootstrap)
    first, second = parse_config(first_text), parse_config(second_text)
    apply_topics(first, kafka_bootstrap)
    ingest = first.topics.ingest[0]
    workers = [_Worker(first, kafka_bootstrap, f"w{n}") for n in (1, 2)]
    (tmp_path / "v2.yaml").write_text(second_text)
    total = 3000
    switched = threading.Event()

    def produce(numbers: range, producer: object) -> None:
        for i in numbers:
            producer.produce(ingest, _event(i), key=str(i).encode())  # type: ignore[attr-defined]  # both partitions
            if i % 50 == 0:
                producer.flush(10)  # type: ignore[attr-defined]
                time.sleep(0.02)  # a steady stream, so batches run while the policy arrives
        producer.flush(30)  # type: ignore[attr-defined]

    def traffic_around_the_switch() -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        produce(range(1000, 2000), producer)  # while the policy is published and taken
        switched.wait(120)
        produce(range(2000, total), producer)  # after both workers switched: each partition sees v2

    try:
        with in_thread(workers[0].gateway.engine), in_thread(workers[1].gateway.engine):
            from confluent_kafka import Producer

            produce(range(1000), Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True}))
            wait_committed(kafka_bootstrap, first.kafka.group_id, ingest, timeout=120)  # v1 on both
            producing = threading.Thread(target=traffic_around_the_switch)
            producing.start()
            published = CliRunner().invoke(main, ["policy", "publish", str(tmp_path / "v2.yaml")])
            assert published.exit_code == 0, published.output
            assert f"published policy {second.policy_version}" in published.output
            deadline = time.monotonic() + 60
            while any(w.policies.switches == 0 for w in workers):
                assert time.monotonic() < deadline, "the workers never switched to the published policy"
                time.sleep(0.05)
            switched.set()
            producing.join(120)
            wait_committed(kafka_bootstrap, first.kafka.group_id, ingest, timeout=120)
            assert [w.policies.switches for w in workers] == [1, 1]
            assert all(w.gateway.engine.config.policy_version == second.policy_version for w in workers)

            # A policy that changes a Kafka setting, published past the CLI's check (by hand, or an
            # older CLI): each worker refuses it, says why, and the policy it runs stays.
            publish(
                {"bootstrap.servers": kafka_bootstrap},
                policy_topic(first),
                third_text,
                parse_config(third_text),
                30,
            )
            deadline = time.monotonic() + 30
            while any(w.policies.refusals == 0 for w in workers):
                assert time.monotonic() < deadline, "the workers never refused the third policy"
                time.sleep(0.1)
            refusal = workers[0].policies.last_refusal
            assert refusal is not None and refusal.reason.startswith("kafka: changed")
            assert all(w.gateway.engine.config.policy_version == second.policy_version for w in workers)
    finally:
        for worker in workers:
            worker.watcher.close()
            worker.gateway.close()

    eu, audit = first.regions["eu"].topic, first.topics.audit
    out = read_all(kafka_bootstrap, [eu, audit])
    ids = Counter(orjson.loads(r.value or b"")["messageId"] for r in out[eu])
    assert ids == Counter({f"m-{i}": 1 for i in range(total)})  # none lost, none twice
    # Per ingest partition, in offset order: first-policy events, then second-policy ones, never back.
    versions: dict[int, list[str]] = defaultdict(list)
    for record in sorted(out[eu], key=lambda r: (r.partition, r.offset)):
        versions[record.partition].append(record.headers["rg-policy-version"].decode())
    for partition, seen in versions.items():
        switch = seen.index(second.policy_version)
        assert switch > 0 and set(seen[:switch]) == {first.policy_version}, partition
        assert set(seen[switch:]) == {second.policy_version}, partition
    # A batch's audit record names one policy: no entry carries a hash of its own.
    hashes = set()
    for record in out[audit]:
        document = orjson.loads(record.value or b"")
        hashes.add(document["policy_hash"])
        assert all("policy_hash" not in entry for entry in document["entries"]), document["source"]
    assert hashes == {first.policy_hash(), second.policy_hash()}


def _health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return orjson.loads(response.read())  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_run_takes_its_file_on_sighup_and_shows_refusals_on_health(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    first_text, second_text, _third = _versions(kafka_bootstrap)
    first, second = parse_config(first_text), parse_config(second_text)
    apply_topics(first, kafka_bootstrap)
    config_path = tmp_path / "policy.yaml"
    config_path.write_text(first_text)
    port = _free_port()
    with gateway_running(
        config_path,
        tmp_path / "run.log",
        "--worker-id",
        "w1",
        "--web-port",
        str(port),
        "--log-format",
        "text",
    ) as gateway:
        gateway.wait_for_log(WORKER_READY)
        assert _health(port)["policy"]["policy_version"] == first.policy_version
        # Not a policy at all: refused with its path, on /health and in the log.
        publish(
            {"bootstrap.servers": kafka_bootstrap},
            policy_topic(first),
            "regions: {eu: {colour: red}}",
            first,
            30,
        )
        deadline = time.monotonic() + 30
        while _health(port)["policy"]["refused"] is None:
            assert time.monotonic() < deadline, "the broken policy was never refused"
            time.sleep(0.2)
        refused = _health(port)["policy"]["refused"]
        assert refused["policy_version"] is None and refused["origin"].startswith("published at offset")
        assert "regions.eu" in refused["reason"]
        # The file changed, then SIGHUP: the worker switches between batches.
        config_path.write_text(second_text)
        gateway.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while _health(port)["policy"]["policy_version"] != second.policy_version:
            assert time.monotonic() < deadline, "SIGHUP never switched the policy"
            time.sleep(0.2)
        health = _health(port)
        assert health["status"] == "ok" and health["policy"]["source"] == "file"
        assert health["policy"]["policy_hash"] == second.policy_hash()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert f'policy_version="{second.policy_version}"' in metrics
        assert "residency_gateway_policy_refusals_total 1.0" in metrics
        assert "residency_gateway_policy_switches_total 1.0" in metrics
    assert gateway.code == 0, gateway.log_text[-3000:]
    assert "refused; the running policy" in gateway.log_text
