"""The benchmark's topics and configs: the default policy with topics and a group of its own per run.

Every contender reads the same pre-loaded input topic and writes to topics named by
its own prefix, so each one's outputs can be counted apart.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from streams.config import GatewayConfig, load_config
from streams.kafka.topics import apply_topics
from streams.keys.ring import development_keys
from streams.outcomes import Source
from streams.pipeline import Pipeline

# Settings a run changes from the default policy's, as JSON, reaching the worker processes
# through their environment (they inherit it): {"kafka": {"batch_size": 500, ...}, "transfers": false}.
# "transfers": false removes every region's transfers, so no event is exported.
OVERRIDES_VARIABLE = "RESIDENCY_BENCH_OVERRIDES"


@contextmanager
def overrides(more: dict[str, Any]) -> Iterator[None]:
    """For the block, the overrides in force plus `more` (a "kafka" part is merged), then as before."""
    before = os.environ.get(OVERRIDES_VARIABLE)
    current = orjson.loads(before or "{}")
    merged = {**current, **more, "kafka": {**current.get("kafka", {}), **more.get("kafka", {})}}
    set_overrides(merged)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(OVERRIDES_VARIABLE, None)
        else:
            os.environ[OVERRIDES_VARIABLE] = before


def set_overrides(overrides: dict[str, Any] | None) -> None:
    """What every gateway config made from now on (here and in workers started after) changes."""
    if overrides:
        os.environ[OVERRIDES_VARIABLE] = orjson.dumps(overrides).decode()
    else:
        os.environ.pop(OVERRIDES_VARIABLE, None)


def gateway_config(
    prefix: str, ingest: str, partitions: int, delivery: str = "exactly_once"
) -> GatewayConfig:
    """The default policy, every output topic under `prefix`, reading `ingest`, group `prefix`."""
    base = load_config(None)
    topics = base.topics.model_copy(
        update={
            "ingest": [ingest],
            "quarantine": f"{prefix}.quarantine",
            "dead_letter": f"{prefix}.dead-letter",
            "audit": f"{prefix}.audit",
            "erasure": f"{prefix}.erasure",
        }
    )
    destinations = {
        name: d.model_copy(update={"topic": f"{prefix}.{name}"}) for name, d in base.destinations.items()
    }
    regions = {name: r.model_copy(update={"topic": f"{prefix}.{name}"}) for name, r in base.regions.items()}
    overrides = orjson.loads(os.environ.get(OVERRIDES_VARIABLE) or "{}")
    kafka = base.kafka.model_copy(
        update={
            "group_id": prefix,
            "partitions": partitions,
            "delivery": delivery,
            **overrides.get("kafka", {}),
        }
    )
    if overrides.get("transfers") is False:
        regions = {name: r.model_copy(update={"transfers": {}}) for name, r in regions.items()}
    return base.model_copy(
        update={"topics": topics, "regions": regions, "kafka": kafka, "destinations": destinations}
    )


def output_topics(config: GatewayConfig) -> list[str]:
    """The topics a gateway writes events and audit records to (subject keys aside)."""
    topics = [r.topic for r in config.regions.values()] + [d.topic for d in config.destinations.values()]
    return [*topics, config.topics.quarantine, config.topics.dead_letter, config.topics.audit]


def create_gateway_topics(config: GatewayConfig, bootstrap: str) -> None:
    apply_topics(config, bootstrap)


def delete_topics(bootstrap: str, names: list[str]) -> None:
    """Delete a finished run's topics, so later runs on the same broker don't pay for its partitions.

    The local broker keeps its data between starts: a broker that had gathered ~3,700 partitions
    of earlier runs gave p50 latencies of seconds where a fresh one gave ~200 ms.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()


def delete_run_topics(bootstrap: str, run: str) -> None:
    """Delete every topic named `run.<x>` or `run-<x>`: a run's (or one contender's) topics."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [name for name in admin.list_topics(timeout=30).topics if name.startswith((f"{run}.", f"{run}-"))]
    if names:
        delete_topics(bootstrap, names)


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]
    for future in admin.create_topics(new, request_timeout=30).values():
        future.result()
    # Metadata names the new partitions (and their leaders) a moment after the topic is created.
    deadline = time.monotonic() + 30
    while True:
        topics = admin.list_topics(timeout=10).topics
        if all(
            name in topics and len(topics[name].partitions) == partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        ):  # fmt: skip
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leaders after 30s")
        time.sleep(0.1)


def expected_by_role(payloads: list[bytes], partitions: int) -> Counter[str]:
    """What the pure pipeline predicts each output topic gets, keyed by role (`eu`, `audit`, ...)."""
    config = gateway_config("expected", "expected.ingest", partitions)
    pipeline = Pipeline(config, development_keys(config.key_regions()))
    expected: Counter[str] = Counter()
    for offset, payload in enumerate(payloads):
        for result in pipeline.process(payload, Source("expected.ingest", offset % partitions, offset)):
            expected.update(role(o.topic) for o in result.outputs)
            expected["audit"] += 1  # an entry, in the batch's audit record
    return expected


def role(topic: str) -> str:
    return topic.split(".", 1)[1]
