"""Create the topics a config implies, with its partitions, replication and min.insync.replicas.

With `access.acls`, also grant the ACLs it implies (streams.access, streams.kafka.acls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec
from confluent_kafka.cimpl import NewTopic

from streams.access import plan_grants
from streams.config import GatewayConfig
from streams.kafka.acls import AclChanges, apply_acls
from streams.kafka.clients import admin_settings
from streams.kafka.subjects import subject_topic_config


@dataclass(frozen=True)
class TopicPlan:
    created: list[str]
    existing: list[str]
    acls: AclChanges | None = None  # None: the config leaves ACLs alone (access.acls: false)


def apply_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> TopicPlan:
    """Create every missing topic (existing ones are left as they are), then grant the planned ACLs."""
    admin = AdminClient(admin_settings(bootstrap, config.kafka.security))
    present = set(admin.list_topics(timeout=timeout).topics)
    wanted = list(dict.fromkeys(config.all_topics()))
    missing = [t for t in wanted if t not in present]
    kafka = config.kafka
    compacted = {config.subject_keys_topic(region) for region in config.regions}
    new = [
        NewTopic(
            topic,
            num_partitions=kafka.partitions,
            replication_factor=kafka.replication_factor,
            config={
                "min.insync.replicas": str(kafka.min_insync_replicas),
                "unclean.leader.election.enable": "false",
                # Subject keys and erasure markers: compacted, so erasure state is kept for good
                # and destroyed keys leave the log within a bounded time.
                **(subject_topic_config() if topic in compacted else {}),
            },
        )
        for topic in missing
    ]
    created = []
    for topic, future in admin.create_topics(new, request_timeout=timeout).items() if new else []:
        try:
            future.result()
            created.append(topic)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another worker won the race
                raise
    if created:
        _wait_for_leaders(admin, created, timeout)
    acls = apply_acls(admin, plan_grants(config), timeout) if config.access.acls else None
    return TopicPlan(created=created, existing=[t for t in wanted if t in present], acls=acls)


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float) -> None:
    """Return once every partition of `topics` answers a ListOffsets request.

    Metadata names a leader a moment before that leader serves the partition
    (NOT_LEADER_FOR_PARTITION), so readiness is asked of the partition itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        problem = _first_unready(admin, topics, timeout)
        if problem is None:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"created topics not ready after {timeout:.0f}s: {problem}")
        time.sleep(0.2)


def _first_unready(admin: AdminClient, topics: list[str], timeout: float) -> str | None:
    metadata = admin.list_topics(timeout=timeout).topics
    partitions = []
    for topic in topics:
        described = metadata.get(topic)
        if described is None or described.error is not None or not described.partitions:
            return f"{topic} has no metadata yet"
        partitions += [TopicPartition(topic, p) for p in described.partitions]
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped in confluent-kafka
    futures = admin.list_offsets({tp: latest for tp in partitions}, request_timeout=timeout)
    for tp, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            return f"{tp.topic}[{tp.partition}]: {exc.args[0].name()}"
    return None


def missing_topics(config: GatewayConfig, bootstrap: str, timeout: float = 30.0) -> list[str]:
    # As the gateway: under ACLs it sees exactly the topics it was granted.
    admin = AdminClient(admin_settings(bootstrap, config.kafka.security, as_admin=False))
    present = set(admin.list_topics(timeout=timeout).topics)
    return [t for t in dict.fromkeys(config.all_topics()) if t not in present]
