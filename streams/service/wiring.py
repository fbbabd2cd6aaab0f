"""The composition root: the gateway as `residency-gateway run` puts it together, in one place.

`run`, the benchmarks (`loadtests/first_look.py`, the bench worker) and the integration
tests all build their engine here, so each of them exercises the wiring production runs;
the demo runs `run` itself. What differs between them is passed in, never rebuilt: the
key ring and where reloads come from, the worker id, extra client settings (librdkafka's
logger), and the poll and hold pauses a test shortens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.config import GatewayConfig
from streams.kafka.clients import (
    CONFLUENT,
    KafkaClients,
    consumer_settings,
    producer_settings,
    transactional_id,
)
from streams.kafka.engine import GatewayEngine
from streams.kafka.subjects import SubjectKeyStore, subject_store_for
from streams.keys.providers import KeyProvider
from streams.keys.refresh import KeyRefresher
from streams.keys.ring import KeyRing
from streams.pipeline import Pipeline


@dataclass
class Gateway:
    """One worker's parts: the pipeline, the engine that feeds it, and what they own."""

    pipeline: Pipeline
    engine: GatewayEngine
    subjects: SubjectKeyStore  # per-subject keys and erasures, each region's in its compacted topic
    refresher: KeyRefresher | None  # reloads keys from their provider; None when they never change
    keys: Callable[[], KeyRing]  # the key ring now: what a newly published policy's pipeline starts with

    def close(self) -> None:
        """Stop what the gateway started besides the engine (which stops with its `run`)."""
        if self.refresher is not None:
            self.refresher.stop()
        self.subjects.close()


def build_gateway(
    config: GatewayConfig,
    bootstrap: str,
    keys: KeyRing,
    *,
    worker_id: str,
    key_provider: KeyProvider | None = None,
    client_settings: Mapping[str, Any] | None = None,
    poll_timeout: float | None = None,
    key_wait_pause: float = 2.0,
    clients: KafkaClients = CONFLUENT,
) -> Gateway:
    """The gateway for one worker of `config`'s group, on the cluster at `bootstrap`.

    With `key_provider`, keys are reloaded from it every `keys.refresh_seconds` (a rotation
    applies without a restart) and the reloading starts here; without it `keys` never change
    (development keys, tests). Every Kafka client is made through `clients` (confluent-kafka's
    by default; unit tests pass in-memory ones). `worker_id` must be stable across the worker's restarts and
    distinct between workers: its transactional id is `<group_id>-<worker_id>`. Raises
    KafkaLoginMissing when the config's login variables are unset, and
    GeolocationDatabaseError when the configured database can't be read.
    """
    kafka = config.kafka
    extra = dict(client_settings or {})
    subjects = subject_store_for(config, bootstrap, clients.producer, clients.consumer, extra)
    pipeline = Pipeline(config, keys, subjects=subjects)
    refresher = None
    key_ring: Callable[[], KeyRing] = lambda: keys  # noqa: E731 - keys that never change
    if key_provider is not None:
        refresher = KeyRefresher(
            key_provider,
            config.key_regions(),
            keys,
            # Through the engine: the pipeline it runs may be a newer policy's (streams/service/policy.py).
            lambda ring: engine.set_keys(ring),
            refresh_seconds=config.keys.refresh_seconds,
            max_age_seconds=config.keys.max_age_seconds,
        )
        key_ring = refresher.ring
    # Regions whose topic lives on a cluster of their own get a producer for that cluster.
    remote_topics = config.remote_region_topics(bootstrap)
    engine = GatewayEngine(
        pipeline,
        {
            **consumer_settings(kafka, bootstrap),
            # Static membership: a worker restarted with its id takes its partitions back at once,
            # instead of waiting out its dead self's session (KIP-345); a second live worker with the
            # same id is fenced, as its transactions are.
            "group.instance.id": transactional_id(kafka, worker_id),
            **extra,
        },
        {**producer_settings(kafka, bootstrap, transactional_id(kafka, worker_id)), **extra},
        list(config.topics.ingest),
        batch_size=kafka.batch_size,
        poll_timeout=kafka.poll_timeout_ms / 1000 if poll_timeout is None else poll_timeout,
        commit_timeout=kafka.commit_timeout_ms / 1000,
        max_batch_seconds=kafka.max_batch_ms / 1000,
        subject_store=subjects,
        keys=key_ring,
        key_wait_pause=key_wait_pause,
        remote_producers={
            cluster: {**producer_settings(kafka, cluster), **extra} for cluster in set(remote_topics.values())
        },
        remote_topics=remote_topics,
        clients=clients,
    )
    if refresher is not None:
        refresher.start()  # once the engine it hands reloaded keys to exists
    return Gateway(pipeline, engine, subjects, refresher, key_ring)
