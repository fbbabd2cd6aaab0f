"""`demo`: the whole gateway on the embedded broker, with realistic traffic and a count per topic.

It runs the real `residency-gateway run` as a separate process, exactly as an
operator would, and checks what reached each topic against what the same
pipeline predicts offline for the same payloads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from functools import partial
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from streams.audit import audit_entries
from streams.config import GatewayConfig, load_config
from streams.devtools.traffic import TrafficGenerator
from streams.explain import predicted_topic_counts
from streams.formats.base import PayloadError
from streams.formats.detect import decode
from streams.formats.snowplow_enriched import ENRICHED_FIELDS
from streams.kafka.clients import admin_settings
from streams.kafka.reading import read_to_end
from streams.kafka.retry import retry_while_passing
from streams.kafka.topics import apply_topics
from streams.keys.ring import development_keys
from streams.pipeline import Pipeline

DEMO_GROUP = "residency-gateway-demo"


_WORKER_READY = "[^Worker]: Ready"  # what faust's worker logs once every service has started


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class DemoFailed(Exception):
    pass


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(payload_count: int, port: int, timeout: float) -> None:
    from streams.devtools import localbroker

    _say("[1/5] embedded Kafka broker")
    try:
        bootstrap = localbroker.start(port=port).bootstrap
    except localbroker.BrokerError as error:
        raise DemoFailed(f"the local broker did not start: {error}") from None
    config = load_config(None)
    _say(f"[2/5] topics on {bootstrap}")
    plan = apply_topics(config, bootstrap)
    _say(f"      {len(plan.created)} created, {len(plan.existing)} already there")
    ingest = config.topics.ingest[0]
    # The demo group starts at the end of the ingest topic, so earlier runs' leftovers don't count.
    _commit_group_at_end(config, bootstrap, ingest)
    starts = _end_offsets(bootstrap, _output_topics(config))

    _say(f"[3/5] starting the gateway (residency-gateway run --dev-keys, group {DEMO_GROUP})")
    gateway, log_path = _start_gateway(config, bootstrap)
    try:
        payloads = list(TrafficGenerator(seed=int(time.time())).payloads(payload_count))
        expected = predicted_topic_counts(Pipeline(config, development_keys(config.key_regions())), payloads)
        _say(f"[4/5] sending {payload_count} payloads ({sum(expected.values())} outputs expected)")
        ingest_end = _produce(bootstrap, ingest, payloads)
        _wait_processed(bootstrap, ingest, ingest_end, gateway, log_path, timeout)
    finally:
        # A SIGTERM while faust's worker is still joining its own group can leave it waiting out
        # that join (issue 17): stop it once it has said it is ready.
        deadline = time.monotonic() + 30
        while gateway.poll() is None and time.monotonic() < deadline and _WORKER_READY not in _text(log_path):
            time.sleep(0.2)
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
    _say("[5/5] counting every output topic (read_committed)")
    counts, copies = _count_outputs(bootstrap, starts, _copies_topic(config), config.topics.audit)
    _print_table(config, counts, expected, payload_count)
    _print_copies(config, copies)
    mismatched = {t: (counts.get(t, 0), n) for t, n in expected.items() if counts.get(t, 0) != n}
    if mismatched:
        detail = ", ".join(f"{t}: {got} read, {want} expected" for t, (got, want) in mismatched.items())
        raise DemoFailed(f"topic counts differ from the pipeline's prediction: {detail}")
    if gateway.returncode not in (0, -signal.SIGTERM):
        raise DemoFailed(f"the gateway exited with code {gateway.returncode}; its log: {log_path}")


def _output_topics(config: GatewayConfig) -> list[str]:
    return [t for t in dict.fromkeys(config.all_topics()) if t not in config.topics.ingest]


def _start_gateway(config: GatewayConfig, bootstrap: str) -> tuple[subprocess.Popen[bytes], Path]:
    # A copy of the default policy with the demo's own consumer group.
    workdir = Path(tempfile.mkdtemp(prefix="residency-demo-"))
    config_path = workdir / "policy.yaml"
    config_path.write_text(_with_group(config))
    log_path = workdir / "gateway.log"
    command = [
        sys.executable, "-m", "streams", "run", "--config", str(config_path),
        "--bootstrap", bootstrap, "--dev-keys", "--web-port", "0",
    ]  # fmt: skip
    log = log_path.open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    _say(f"      gateway pid {process.pid}, log {log_path}")
    return process, log_path


def _with_group(config: GatewayConfig) -> str:
    import yaml

    document = config.model_dump(by_alias=True, mode="json")
    document["kafka"]["group_id"] = DEMO_GROUP
    return yaml.safe_dump(document, sort_keys=False)


def _commit_group_at_end(config: GatewayConfig, bootstrap: str, topic: str) -> None:
    consumer = Consumer({**admin_settings(bootstrap), "group.id": DEMO_GROUP, "enable.auto.commit": False})
    try:
        ends = _end_offsets(bootstrap, [topic])
        offsets = [TopicPartition(t, p, end) for (t, p), end in ends.items()]
        retry_while_passing(lambda: consumer.commit(offsets=offsets, asynchronous=False))
    finally:
        consumer.close()


def _end_offsets(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({**admin_settings(bootstrap), "group.id": "residency-gateway-demo-probe"})
    try:
        metadata = consumer.list_topics(timeout=30)
        ends = {}
        for topic in topics:
            for partition in metadata.topics[topic].partitions:
                watermarks = partial(
                    consumer.get_watermark_offsets, TopicPartition(topic, partition), timeout=30
                )
                _low, high = retry_while_passing(watermarks)
                ends[(topic, partition)] = high
        return ends
    finally:
        consumer.close()


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> dict[tuple[str, int], int]:
    producer = Producer({**admin_settings(bootstrap), "linger.ms": 5, "enable.idempotence": True})
    for sent, payload in enumerate(payloads, start=1):
        producer.produce(topic, payload)
        if sent % 1000 == 0:
            producer.poll(0)
            _say(f"      sent {sent}/{len(payloads)}")
    if producer.flush(60):
        raise DemoFailed("the demo's own producer could not deliver its payloads")
    return _end_offsets(bootstrap, [topic])


def _wait_processed(
    bootstrap: str,
    topic: str,
    ingest_end: dict[tuple[str, int], int],
    gateway: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
) -> None:
    """Wait until the gateway has committed every ingest offset the demo produced."""
    consumer = Consumer({**admin_settings(bootstrap), "group.id": DEMO_GROUP, "enable.auto.commit": False})
    partitions = [TopicPartition(t, p) for t, p in ingest_end]
    target = sum(ingest_end.values())
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + 2
    try:
        while True:
            if gateway.poll() is not None:
                raise DemoFailed(f"the gateway exited early (code {gateway.returncode}); its log: {log_path}")
            answer = retry_while_passing(lambda: consumer.committed(partitions, timeout=10))
            committed = sum(max(tp.offset, 0) for tp in answer)
            if committed >= target:
                _say("      every payload processed and its offset committed")
                return
            if time.monotonic() > next_report:
                _say(f"      waiting for the gateway: {target - committed} payloads not yet committed")
                next_report = time.monotonic() + 2
            if time.monotonic() > deadline:
                raise DemoFailed(f"the gateway did not finish within {timeout:.0f}s; its log: {log_path}")
            time.sleep(0.3)
    finally:
        consumer.close()


def _copies_topic(config: GatewayConfig) -> str:
    return next(iter(config.destinations.values())).topic


def _count_outputs(
    bootstrap: str, starts: dict[tuple[str, int], int], copies_topic: str, audit_topic: str
) -> tuple[Counter[str], dict[str, bytes]]:
    """Records per topic (the audit topic's entries, one per event), and the first copy of each
    collector format on the copies' topic."""
    ends = _end_offsets(bootstrap, sorted({t for t, _ in starts}))
    consumer = Consumer(
        {
            **admin_settings(bootstrap),
            "group.id": "residency-gateway-demo-counter",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    counts: Counter[str] = Counter()
    copies: dict[str, bytes] = {}

    def count(record: Message) -> None:
        topic = record.topic() or ""
        value = record.value()
        # An audit record lists a batch's events: what the prediction counts is its entries.
        counts[topic] += len(audit_entries(value or b"")) if topic == audit_topic else 1
        if topic == copies_topic and value:
            try:
                name = decode(value).format.name
            except PayloadError:
                return
            copies.setdefault(name, value)

    try:
        read_to_end(consumer, ends, starts, count, timeout=60)
    finally:
        consumer.close()
    return counts, copies


def _print_copies(config: GatewayConfig, copies: dict[str, bytes]) -> None:
    """One copy per collector format, as it left its region: what survives by default (docs/transforms.md)."""
    if not copies:
        return
    print(f"\nWhat leaves a region: the first copy of each format on {_copies_topic(config)}")
    for name, value in sorted(copies.items()):
        if name == "snowplow_enriched_tsv":  # its non-empty columns, by name
            columns = zip(ENRICHED_FIELDS, value.decode("utf-8", errors="replace").split("\t"), strict=False)
            value = orjson.dumps({field: text for field, text in columns if text})
        print(f"  {name}: {value.decode('utf-8', errors='replace')}")


def _print_table(config: GatewayConfig, counts: Counter[str], expected: Counter[str], sent: int) -> None:
    rows = [(region.topic, name) for name, region in config.regions.items()]
    rows += [
        *((destination.topic, f"({name} copies)") for name, destination in config.destinations.items()),
        (config.topics.quarantine, "(quarantine)"),
        (config.topics.dead_letter, "(dead letters)"),
        (config.topics.audit, "(audit entries)"),
    ]
    width = max(len(topic) for topic, _ in rows)
    print(f"\n{'topic':<{width}}  {'holds':<15} {'records':>8}  {'expected':>8}")
    for topic, label in rows:
        print(f"{topic:<{width}}  {label:<15} {counts.get(topic, 0):>8}  {expected.get(topic, 0):>8}")
    print(f"\n{sent} payloads in, {sum(counts.values())} records and audit entries out.")
